import { applyDecorators } from '@nestjs/common';
import { ApiBearerAuth, ApiResponse } from '@nestjs/swagger';
import { ErrorBodyDto } from './error-body.dto.js';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input (validation_failed with field-level details, or malformed_json)',
  401: 'Missing or wrong bearer key',
  404: 'Not found',
  409: 'Conflicts with existing data',
  413: 'Body too large',
};

/** Documents the error responses of an admin route with the shared error shape. */
export function ApiErrors(...statuses: number[]) {
  return applyDecorators(
    ApiBearerAuth(),
    ...[401, ...statuses].map((status) =>
      ApiResponse({ status, description: DESCRIPTIONS[status] ?? 'Error', type: ErrorBodyDto }),
    ),
  );
}
