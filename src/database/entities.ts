import { Chat } from '../conversation/chat.entity.js';
import { Message } from '../conversation/message.entity.js';
import { Provider } from '../provider/provider.entity.js';
import { Chunk } from '../store/entities/chunk.entity.js';
import { StoreDocument } from '../store/entities/document.entity.js';
import { Store } from '../store/entities/store.entity.js';
import { AppSetting } from './app-setting.entity.js';

/** Every TypeORM entity, registered once. Schema changes go through migrations/ only. */
export const ENTITIES = [AppSetting, Provider, Store, StoreDocument, Chunk, Chat, Message];
