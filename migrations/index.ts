import { Foundation1763780000000 } from './1763780000000-foundation.js';
import { Stores1763780000100 } from './1763780000100-stores.js';
import { Conversations1763780000200 } from './1763780000200-conversations.js';
import { BotDailyTokens1763780000300 } from './1763780000300-bot-daily-tokens.js';
import { AnswersClaimedFromRows1763780000400 } from './1763780000400-answers-claimed-from-rows.js';
import { AnswerRowsMadeByWorkers1763780000500 } from './1763780000500-answer-rows-made-by-workers.js';

/** Every migration, in order. Listed explicitly so they load the same way in Node, Jest and bundles. */
export const MIGRATIONS = [
  Foundation1763780000000,
  Stores1763780000100,
  Conversations1763780000200,
  BotDailyTokens1763780000300,
  AnswersClaimedFromRows1763780000400,
  AnswerRowsMadeByWorkers1763780000500,
];
