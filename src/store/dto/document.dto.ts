import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';
import { PageMetaDto, PageQueryDto } from '../../common/pagination.js';
import {
  DOCUMENT_STATUSES,
  INGEST_STAGES,
  type DocumentStatus,
  type IngestStage,
} from '../entities/document.entity.js';

/**
 * The non-file fields of a document upload: with a multipart `file`, `title` is optional; as JSON,
 * `content` (Markdown or plain text) is required.
 */
export class CreateDocumentDto {
  @ApiPropertyOptional({
    example: 'Refund policy',
    description: "Defaults to the file's own title (Markdown heading, PDF metadata) or its name",
  })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(500)
  title?: string;

  @ApiPropertyOptional({
    example: '# Refunds\n\nRefunds are processed within 14 days.',
    description: 'JSON uploads only: the text (Markdown headings are honoured)',
  })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  content?: string;
}

/** The multipart form, for the OpenAPI document. */
export const DOCUMENT_UPLOAD_SCHEMA = {
  description:
    'Either multipart/form-data with a `file` (.txt, .md, .html, .pdf, .docx, .csv; at most UPLOAD_LIMIT_MB) and an optional `title`, or JSON `{title, content}`.',
  schema: {
    type: 'object',
    properties: {
      file: { type: 'string', format: 'binary', description: 'multipart only' },
      title: { type: 'string', maxLength: 500 },
      content: { type: 'string', description: 'JSON only: the text (Markdown)' },
    },
  },
};

export class ListDocumentsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: DOCUMENT_STATUSES })
  @IsOptional()
  @IsIn(DOCUMENT_STATUSES)
  status?: DocumentStatus;
}

export class DocumentDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) storeId!: string;
  @ApiProperty() title!: string;
  @ApiProperty({ nullable: true, type: String, description: 'null for JSON uploads' }) filename!:
    string | null;
  @ApiProperty({ example: 'application/pdf' }) mimeType!: string;
  @ApiProperty() sizeBytes!: number;
  @ApiProperty({ description: 'sha256 of the content; the same content is stored once per store' })
  contentHash!: string;
  @ApiProperty({
    enum: DOCUMENT_STATUSES,
    description: 'pending → processing → ready | failed',
  })
  status!: DocumentStatus;
  @ApiProperty({ nullable: true, type: String, description: 'Why ingestion failed, naming the stage' })
  error!: string | null;
  @ApiProperty({ enum: INGEST_STAGES, nullable: true, description: 'The stage that failed' })
  failedStage!: IngestStage | null;
  @ApiProperty() chunkCount!: number;
  @ApiProperty({ nullable: true, type: Date }) indexedAt!: Date | null;
  @ApiProperty() createdAt!: Date;
  @ApiProperty() updatedAt!: Date;
}

export class UploadedDocumentDto extends DocumentDto {
  @ApiProperty({
    description:
      'true when the store already had this exact content: the existing document is returned (200) and nothing new is stored',
  })
  duplicate!: boolean;
}

export class DocumentPageDto extends PageMetaDto {
  @ApiProperty({ type: [DocumentDto] }) items!: DocumentDto[];
}

export class ReindexResultDto {
  @ApiProperty({ description: 'Documents queued for ingestion again' }) queued!: number;
}
