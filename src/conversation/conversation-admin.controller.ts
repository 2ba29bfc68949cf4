import { Controller, Get, Param, ParseUUIDPipe, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/http/api-errors.decorator.js';
import { PageQueryDto } from '../common/pagination.js';
import { ConversationAdminService } from './conversation-admin.service.js';
import {
  ConversationPageDto,
  ListConversationsQueryDto,
  MessagePageDto,
  UsageReportDto,
  UsageReportQueryDto,
} from './dto/conversation.dto.js';

@ApiTags('conversations')
@Controller('api/v1')
export class ConversationAdminController {
  constructor(private readonly conversations: ConversationAdminService) {}

  @Get('conversations')
  @ApiOperation({
    summary: 'List conversations, newest activity first; filter by bot, platform, user and time',
  })
  @ApiOkResponse({ type: ConversationPageDto })
  @ApiErrors(400)
  list(@Query() query: ListConversationsQueryDto): Promise<ConversationPageDto> {
    return this.conversations.list(query);
  }

  @Get('conversations/:id/messages')
  @ApiOperation({
    summary: "A conversation's messages and answers, oldest first, with status, tokens and delivery",
  })
  @ApiOkResponse({ type: MessagePageDto })
  @ApiErrors(400, 404)
  messages(@Param('id', ParseUUIDPipe) id: string, @Query() query: PageQueryDto): Promise<MessagePageDto> {
    return this.conversations.messages(id, query);
  }

  @Get('usage')
  @ApiOperation({ summary: 'Messages, tokens, failures and latency percentiles over a period' })
  @ApiOkResponse({ type: UsageReportDto })
  @ApiErrors(400)
  usage(@Query() query: UsageReportQueryDto): Promise<UsageReportDto> {
    return this.conversations.usage(query);
  }
}
