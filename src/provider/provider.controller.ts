import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Patch,
  Post,
  Query,
} from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiExtraModels,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ApiErrors } from '../common/http/api-errors.decorator.js';
import {
  CreateProviderDto,
  ListProvidersQueryDto,
  ProviderDto,
  ProviderPageDto,
  UpdateProviderDto,
} from './dto/provider.dto.js';
import { PROVIDER_CONFIG_CLASSES } from './provider-types.js';
import { ProviderService } from './provider.service.js';

@ApiTags('providers')
@ApiExtraModels(...PROVIDER_CONFIG_CLASSES)
@Controller('api/v1/providers')
export class ProviderController {
  constructor(private readonly providers: ProviderService) {}

  @Post()
  @ApiOperation({ summary: 'Create a model, embedding or bot provider' })
  @ApiCreatedResponse({ type: ProviderDto })
  @ApiErrors(400, 409, 413)
  create(@Body() dto: CreateProviderDto): Promise<ProviderDto> {
    return this.providers.create(dto);
  }

  @Get()
  @ApiOperation({ summary: 'List providers, filtered by category, type or enabled, paginated' })
  @ApiOkResponse({ type: ProviderPageDto })
  @ApiErrors(400)
  list(@Query() query: ListProvidersQueryDto): Promise<ProviderPageDto> {
    return this.providers.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get a provider (secrets masked)' })
  @ApiOkResponse({ type: ProviderDto })
  @ApiErrors(400, 404)
  get(@Param('id', ParseUUIDPipe) id: string): Promise<ProviderDto> {
    return this.providers.get(id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Change a provider; omitted or masked secrets keep their stored value' })
  @ApiOkResponse({ type: ProviderDto })
  @ApiErrors(400, 404, 409, 413)
  update(@Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateProviderDto): Promise<ProviderDto> {
    return this.providers.update(id, dto);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a provider (409 while a store or bot uses it)' })
  @ApiNoContentResponse()
  @ApiErrors(400, 404, 409)
  async remove(@Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.providers.remove(id);
  }
}
