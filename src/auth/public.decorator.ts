import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'parley:public';

/**
 * Marks a controller or route as not needing the admin key: health checks, and platform webhooks
 * (which have their own guards: signatures, Basic auth).
 */
export const Public = () => SetMetadata(IS_PUBLIC, true);
