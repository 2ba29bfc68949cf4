import { Body, Controller, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { InjectLogger } from '../core/core.module.js';
import { ApiErrors } from '../common/http/api-errors.decorator.js';
import type { ChatDoneEvent } from '../llm/chat-model.port.js';
import { LlmError } from '../llm/llm-error.js';
import { GroundedAnswerService } from './answer/grounded-answer.service.js';
import { AskRequestDto, AskResponseDto, SearchRequestDto, SearchResponseDto } from './dto/search.dto.js';
import { RetrievalService } from './retrieval/retrieval.service.js';
import { formatSourceLabel } from './retrieval/retrieval.types.js';
import { StoreService } from './store.service.js';

/** Said by /ask when the model fails and the store has no fallback message of its own. */
export const DEFAULT_FALLBACK_MESSAGE = 'Sorry, I cannot answer right now. Please try again in a moment.';

/** Search and ask a store directly: the playground integrators use before wiring a platform. */
@ApiTags('stores')
@Controller('api/v1/stores/:id')
export class PlaygroundController {
  constructor(
    private readonly stores: StoreService,
    private readonly retrieval: RetrievalService,
    private readonly answers: GroundedAnswerService,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  @Post('search')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Retrieve the passages that best match a query',
    description:
      'Hybrid (pgvector cosine + full-text, fused by reciprocal rank) when the store has an embedding provider, full-text otherwise.',
  })
  @ApiOkResponse({ type: SearchResponseDto })
  @ApiErrors(400, 404)
  async search(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: SearchRequestDto,
  ): Promise<SearchResponseDto> {
    const store = await this.stores.find(id);
    const result = await this.retrieval.search(store, dto.query, { topK: dto.topK ?? store.topK });
    return {
      mode: result.mode,
      hits: result.hits.map((hit) => ({ ...hit, source: formatSourceLabel(hit) })),
    };
  }

  @Post('ask')
  @ApiOperation({
    summary: 'Ask a question and get a grounded answer with its sources',
    description:
      'JSON by default. With `Accept: text/event-stream` the answer streams as server-sent events: ' +
      '`token` events (`{"text": "..."}`), then one `done` event with `{answer, sources, usage, finishReason}`. ' +
      'When the model fails, an `error` event (`{kind, message}`) comes before `done`, whose answer is the fallback message.',
  })
  @ApiProduces('application/json', 'text/event-stream')
  @ApiOkResponse({ type: AskResponseDto })
  @ApiErrors(400, 404, 409)
  async ask(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: AskRequestDto,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const store = await this.stores.find(id);
    const controller = new AbortController();
    const onClose = () => {
      if (!response.writableEnded) controller.abort();
    };
    response.on('close', onClose);
    const streaming = (request.headers.accept ?? '').includes('text/event-stream');
    const grounded = await this.answers.answer({
      storeId: store.id,
      question: dto.question,
      history: dto.history ?? [],
      signal: controller.signal,
    });
    const send = (event: string, data: unknown) =>
      response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (streaming) {
      response.status(HttpStatus.OK);
      response.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      response.setHeader('Cache-Control', 'no-cache, no-transform');
      response.setHeader('X-Accel-Buffering', 'no');
      response.flushHeaders();
    }
    let answer = '';
    let done: ChatDoneEvent | undefined;
    let error: { kind: string; message: string } | undefined;
    const started = performance.now();
    try {
      for await (const event of grounded.events) {
        if (event.type === 'token') {
          answer += event.text;
          if (streaming) send('token', { text: event.text });
        } else {
          done = event;
        }
      }
    } catch (failure) {
      if (controller.signal.aborted) return;
      error =
        failure instanceof LlmError
          ? { kind: failure.kind, message: failure.message }
          : { kind: 'internal', message: 'The answer failed unexpectedly; it has been logged' };
      this.logger.warn({ storeId: store.id, err: failure }, 'ask: the model failed');
      answer = store.fallbackMessage ?? DEFAULT_FALLBACK_MESSAGE;
      if (streaming) send('error', error);
    } finally {
      response.off('close', onClose);
    }
    const body: AskResponseDto = {
      answer,
      sources: grounded.sources,
      usage: {
        promptTokens: done?.usage.promptTokens ?? 0,
        completionTokens: done?.usage.completionTokens ?? 0,
        latencyMs: done?.latencyMs ?? Math.round(performance.now() - started),
        ...(done?.firstTokenMs !== undefined ? { firstTokenMs: done.firstTokenMs } : {}),
      },
      ...(done ? { finishReason: done.finishReason } : {}),
      ...(error ? { error } : {}),
    };
    if (streaming) {
      send('done', body);
      response.end();
    } else {
      response.status(HttpStatus.OK).json(body);
    }
  }
}
