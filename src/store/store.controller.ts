import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Patch,
  Post,
  Query,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ApiErrors } from '../common/http/api-errors.decorator.js';
import { PageQueryDto } from '../common/pagination.js';
import { ReindexResultDto } from './dto/document.dto.js';
import { CreateStoreDto, StoreDto, StorePageDto, UpdateStoreDto } from './dto/store.dto.js';
import { DocumentService } from './document.service.js';
import { StoreService } from './store.service.js';

@ApiTags('stores')
@Controller('api/v1/stores')
export class StoreController {
  constructor(
    private readonly stores: StoreService,
    private readonly documents: DocumentService,
  ) {}

  @Post()
  @ApiOperation({
    summary: 'Create a knowledge store',
    description: 'The first store becomes the default store (used by bots without a storeId).',
  })
  @ApiCreatedResponse({ type: StoreDto })
  @ApiErrors(400, 409, 413)
  create(@Body() dto: CreateStoreDto): Promise<StoreDto> {
    return this.stores.create(dto);
  }

  @Get()
  @ApiOperation({ summary: 'List stores, oldest first, paginated' })
  @ApiOkResponse({ type: StorePageDto })
  @ApiErrors(400)
  list(@Query() query: PageQueryDto): Promise<StorePageDto> {
    return this.stores.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get a store' })
  @ApiOkResponse({ type: StoreDto })
  @ApiErrors(400, 404)
  get(@Param('id', ParseUUIDPipe) id: string): Promise<StoreDto> {
    return this.stores.get(id);
  }

  @Patch(':id')
  @ApiOperation({
    summary: 'Change a store',
    description:
      'Only the fields sent change; null clears a nullable field. Changing the embedding provider re-indexes every document.',
  })
  @ApiOkResponse({ type: StoreDto })
  @ApiErrors(400, 404, 409, 413)
  update(@Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateStoreDto): Promise<StoreDto> {
    return this.stores.update(id, dto);
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Delete a store with its documents (409 while a bot uses it)',
    description: 'Deleting the default store makes the oldest remaining store the default.',
  })
  @ApiNoContentResponse()
  @ApiErrors(400, 404, 409)
  async remove(@Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.stores.remove(id);
  }

  @Post(':id/reindex')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({ summary: 'Ingest every document of the store again (background jobs)' })
  @ApiAcceptedResponse({ type: ReindexResultDto })
  @ApiErrors(400, 404)
  async reindex(@Param('id', ParseUUIDPipe) id: string): Promise<ReindexResultDto> {
    return { queued: await this.documents.reindex(id) };
  }
}
