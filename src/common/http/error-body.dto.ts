import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class FieldErrorDto {
  @ApiProperty({ example: 'config.baseUrl' }) field!: string;
  @ApiProperty({ example: ['baseUrl must be a URL address'] }) messages!: string[];
}

/** The one error shape: documented once, referenced by every route. */
export class ErrorBodyDto {
  @ApiProperty({ example: 400 }) statusCode!: number;
  @ApiProperty({
    example: 'validation_failed',
    description:
      'Stable machine-readable code: validation_failed, malformed_json, unauthorized, not_found, conflict, payload_too_large, unavailable, internal_error, …',
  })
  code!: string;
  @ApiProperty({ example: 'The request is invalid: see details for each field' }) message!: string;
  @ApiPropertyOptional({ type: [FieldErrorDto], description: 'Field-level messages for validation_failed' })
  details?: FieldErrorDto[];
  @ApiProperty({
    example: '9b2f8c2e-1a4b-4c55-9e0f-3f1c3b7a2d10',
    description: 'Also in the x-request-id header',
  })
  requestId!: string;
}
