import { APIError } from 'openai';
import type { Chat } from 'openai/resources/chat/chat';
import { withRetry } from '../common/retry.js';
import type {
  ChatModel,
  ChatRequest,
  ChatStreamEvent,
  ConnectionTestResult,
  FinishReason,
  TokenUsage,
} from './chat-model.port.js';
import { LlmError, cancelledError } from './llm-error.js';
import {
  connectAzureOpenAi,
  connectOpenAiCompatible,
  retryOptions,
  toLlmError,
  type AzureOpenAiEndpoint,
  type OpenAiCompatibleEndpoint,
  type OpenAiConnection,
  type RetrySettings,
} from './openai-client.js';
import { RequestWatchdog } from './request-watchdog.js';
import { countMessageTokens, countTokens } from './token-counter.js';

type ChatCompletionChunk = Chat.Completions.ChatCompletionChunk;
type StreamingParams = Chat.Completions.ChatCompletionCreateParamsStreaming;

export interface ChatGenerationSettings {
  temperature?: number;
  /** Default answer limit when a request does not set one. */
  maxTokens?: number;
  /**
   * Ask for `stream_options.include_usage` (default true). Turned off automatically when a server
   * rejects it; usage is then counted locally.
   */
  streamUsage?: boolean;
  /** OpenAI's reasoning models want `max_completion_tokens`; switched automatically on their 400. */
  maxTokensParam?: 'max_tokens' | 'max_completion_tokens';
}

export interface OpenAiCompatibleChatConfig extends OpenAiCompatibleEndpoint, ChatGenerationSettings {
  model: string;
}

export interface AzureOpenAiChatConfig extends AzureOpenAiEndpoint, ChatGenerationSettings {}

const DEFAULT_CHAT_RETRY: Required<RetrySettings> = { attempts: 3, baseDelayMs: 500, maxDelayMs: 10_000 };
const OPERATION = 'Chat completion';

interface OpenedStream {
  iterator: AsyncIterator<ChatCompletionChunk>;
  /** Chunks read before the first token (role, reasoning...), plus the chunk holding it. */
  buffered: ChatCompletionChunk[];
  watchdog: RequestWatchdog;
}

interface StreamState {
  text: string;
  chunks: number;
  usage?: TokenUsage;
  finishReason?: string;
  firstTokenMs?: number;
}

/** ChatModel over the official `openai` SDK, for any OpenAI-compatible server or Azure OpenAI. */
export class OpenAiChatModel implements ChatModel {
  private maxTokensParam: 'max_tokens' | 'max_completion_tokens';
  private streamUsage: boolean;
  private sendTemperature = true;

  constructor(
    private readonly connection: OpenAiConnection,
    private readonly settings: ChatGenerationSettings = {},
  ) {
    this.maxTokensParam = settings.maxTokensParam ?? 'max_tokens';
    this.streamUsage = settings.streamUsage ?? true;
  }

  static compatible(config: OpenAiCompatibleChatConfig): OpenAiChatModel {
    return new OpenAiChatModel(connectOpenAiCompatible(config, config.model, DEFAULT_CHAT_RETRY), config);
  }

  static azure(config: AzureOpenAiChatConfig): OpenAiChatModel {
    return new OpenAiChatModel(connectAzureOpenAi(config, DEFAULT_CHAT_RETRY), config);
  }

  async *stream(request: ChatRequest, signal?: AbortSignal): AsyncGenerator<ChatStreamEvent> {
    const started = performance.now();
    if (signal?.aborted) throw cancelledError(OPERATION);
    const opened = await this.openWithRetry(request, signal);
    const state: StreamState = { text: '', chunks: 0 };
    const { iterator, watchdog } = opened;
    let finished = false;
    try {
      for (const chunk of opened.buffered) yield* this.consume(chunk, state, started);
      for (;;) {
        watchdog.arm();
        const next = await iterator.next().catch((error: unknown) => {
          throw this.failure(error, watchdog);
        });
        watchdog.pause();
        if (next.done) break;
        yield* this.consume(next.value, state, started);
      }
      // The SDK ends a stream quietly when its request is aborted.
      if (watchdog.timedOut || watchdog.cancelled) throw this.failure(new Error('aborted'), watchdog);
      finished = true;
    } finally {
      watchdog.dispose();
      if (!finished) await iterator.return?.().catch(() => undefined);
    }
    yield this.done(request, state, started);
  }

  async testConnection(signal?: AbortSignal): Promise<ConnectionTestResult> {
    const started = performance.now();
    try {
      let reply = '';
      for await (const event of this.stream(
        { messages: [{ role: 'user', content: 'Reply with "ok".' }], maxTokens: 5 },
        signal,
      )) {
        if (event.type === 'token') reply += event.text;
      }
      const latencyMs = Math.round(performance.now() - started);
      return {
        ok: true,
        latencyMs,
        message: `Connected to ${this.connection.label}; it replied "${reply.trim()}".`,
      };
    } catch (error) {
      const failure =
        error instanceof LlmError
          ? error
          : toLlmError(error, { operation: OPERATION, connection: this.connection });
      return {
        ok: false,
        latencyMs: Math.round(performance.now() - started),
        message: failure.message,
        errorKind: failure.kind,
      };
    }
  }

  /** Retries only until the first token: once text reached the caller, a retry would repeat it. */
  private async openWithRetry(request: ChatRequest, signal?: AbortSignal): Promise<OpenedStream> {
    try {
      return await withRetry(() => this.openAdapting(request, signal), retryOptions(this.connection, signal));
    } catch (error) {
      if (signal?.aborted) throw cancelledError(OPERATION);
      throw error;
    }
  }

  private async openAdapting(request: ChatRequest, signal?: AbortSignal): Promise<OpenedStream> {
    for (let adaptations = 0; ; adaptations++) {
      try {
        return await this.open(request, signal);
      } catch (error) {
        if (adaptations >= 3 || !this.adaptTo(error)) throw error;
      }
    }
  }

  private async open(request: ChatRequest, signal?: AbortSignal): Promise<OpenedStream> {
    const watchdog = new RequestWatchdog(this.connection.timeoutMs, signal);
    try {
      watchdog.arm();
      const stream = await this.connection.client.chat.completions.create(this.body(request), {
        signal: watchdog.signal,
      });
      const iterator = stream[Symbol.asyncIterator]();
      const buffered: ChatCompletionChunk[] = [];
      for (;;) {
        watchdog.arm();
        const next = await iterator.next();
        if (next.done) break;
        buffered.push(next.value);
        if (contentOf(next.value)) break;
      }
      watchdog.pause();
      if (watchdog.timedOut || watchdog.cancelled) throw new Error('aborted');
      return { iterator, buffered, watchdog };
    } catch (error) {
      watchdog.dispose();
      throw this.failure(error, watchdog);
    }
  }

  private body(request: ChatRequest): StreamingParams {
    const body: StreamingParams = {
      model: this.connection.model,
      messages: request.messages.map((message) => ({ role: message.role, content: message.content })),
      stream: true,
    };
    if (this.streamUsage) body.stream_options = { include_usage: true };
    const maxTokens = request.maxTokens ?? this.settings.maxTokens;
    if (maxTokens !== undefined) {
      if (this.maxTokensParam === 'max_tokens') body.max_tokens = maxTokens;
      else body.max_completion_tokens = maxTokens;
    }
    const temperature = request.temperature ?? this.settings.temperature;
    if (temperature !== undefined && this.sendTemperature) body.temperature = temperature;
    return body;
  }

  /**
   * Adjusts the request to a server that rejected one of our optional parameters with a 400, so one
   * configuration works across OpenAI's reasoning models, older Azure API versions and local servers.
   */
  private adaptTo(error: unknown): boolean {
    const cause = error instanceof LlmError ? error.cause : undefined;
    if (!(cause instanceof APIError) || cause.status !== 400) return false;
    const text = `${cause.param ?? ''} ${cause.message}`;
    if (
      this.maxTokensParam === 'max_tokens' &&
      /max_completion_tokens/.test(text) &&
      /max_tokens/.test(text)
    ) {
      this.maxTokensParam = 'max_completion_tokens';
      return true;
    }
    if (this.streamUsage && /stream_options/.test(text)) {
      this.streamUsage = false;
      return true;
    }
    if (this.sendTemperature && /temperature/.test(text)) {
      this.sendTemperature = false;
      return true;
    }
    return false;
  }

  private *consume(
    chunk: ChatCompletionChunk,
    state: StreamState,
    started: number,
  ): Generator<ChatStreamEvent> {
    if (typeof chunk !== 'object' || chunk === null || !Array.isArray(chunk.choices)) {
      throw this.badResponse('a stream chunk without "choices"');
    }
    state.chunks++;
    if (chunk.usage) {
      state.usage = {
        promptTokens: chunk.usage.prompt_tokens,
        completionTokens: chunk.usage.completion_tokens,
      };
    }
    const choice = chunk.choices[0];
    if (choice?.finish_reason) state.finishReason = choice.finish_reason;
    const text = contentOf(chunk);
    if (!text) return;
    state.firstTokenMs ??= Math.round(performance.now() - started);
    state.text += text;
    yield { type: 'token', text };
  }

  private done(request: ChatRequest, state: StreamState, started: number): ChatStreamEvent {
    if (state.chunks === 0) throw this.badResponse('an empty stream (expected server-sent events)');
    const usage = state.usage ?? {
      promptTokens: countMessageTokens(request.messages),
      completionTokens: countTokens(state.text),
    };
    return {
      type: 'done',
      usage,
      latencyMs: Math.round(performance.now() - started),
      firstTokenMs: state.firstTokenMs,
      finishReason: toFinishReason(state.finishReason),
    };
  }

  private failure(error: unknown, watchdog: RequestWatchdog): LlmError {
    return toLlmError(error, {
      operation: OPERATION,
      connection: this.connection,
      timedOut: watchdog.timedOut,
      cancelled: watchdog.cancelled,
    });
  }

  private badResponse(what: string): LlmError {
    return new LlmError(
      'bad-response',
      `${OPERATION} failed: the server sent ${what} (${this.connection.label})`,
    );
  }
}

function contentOf(chunk: ChatCompletionChunk): string {
  const content = chunk.choices?.[0]?.delta?.content;
  return typeof content === 'string' ? content : '';
}

function toFinishReason(reason: string | undefined): FinishReason {
  if (reason === 'stop' || reason === 'length') return reason;
  if (reason === 'content_filter') return 'content-filter';
  return 'other';
}
