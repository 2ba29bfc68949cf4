/// <reference types="multer" />
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Res,
  UploadedFile,
  UseInterceptors,
} from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import {
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { ApiErrors } from '../common/http/api-errors.decorator.js';
import { ValidationFailedError } from '../common/errors.js';
import {
  CreateDocumentDto,
  DOCUMENT_UPLOAD_SCHEMA,
  DocumentDto,
  DocumentPageDto,
  ListDocumentsQueryDto,
  UploadedDocumentDto,
} from './dto/document.dto.js';
import { DocumentService } from './document.service.js';

@ApiTags('documents')
@Controller('api/v1/stores/:storeId/documents')
export class DocumentController {
  constructor(private readonly documents: DocumentService) {}

  @Post()
  @UseInterceptors(FileInterceptor('file'))
  @ApiOperation({
    summary: 'Add a document (file upload or JSON text); it is ingested in the background',
    description:
      'Returns 201 with the new document (status `pending`), or 200 with `duplicate: true` and the existing ' +
      'document when the store already has this exact content. Poll the document until `ready` or `failed`.',
  })
  @ApiConsumes('multipart/form-data', 'application/json')
  @ApiBody(DOCUMENT_UPLOAD_SCHEMA)
  @ApiCreatedResponse({ type: UploadedDocumentDto, description: 'Stored and queued for ingestion' })
  @ApiOkResponse({ type: UploadedDocumentDto, description: 'Duplicate: the existing document' })
  @ApiErrors(400, 404, 413)
  async create(
    @Param('storeId', ParseUUIDPipe) storeId: string,
    @Body() dto: CreateDocumentDto,
    @UploadedFile() file: Express.Multer.File | undefined,
    @Res({ passthrough: true }) response: Response,
  ): Promise<UploadedDocumentDto> {
    if (file && dto.content !== undefined) {
      throw new ValidationFailedError([
        { field: 'content', messages: ['send either a multipart "file" or JSON content, not both'] },
      ]);
    }
    const result = file
      ? await this.documents.add(storeId, {
          kind: 'file',
          filename: file.originalname,
          mimeType: file.mimetype,
          buffer: file.buffer,
          title: dto.title,
        })
      : await this.documents.add(storeId, { kind: 'text', ...requireText(dto) });
    response.status(result.duplicate ? HttpStatus.OK : HttpStatus.CREATED);
    return result.document;
  }

  @Get()
  @ApiOperation({ summary: "List a store's documents with their ingestion status, paginated" })
  @ApiOkResponse({ type: DocumentPageDto })
  @ApiErrors(400, 404)
  list(
    @Param('storeId', ParseUUIDPipe) storeId: string,
    @Query() query: ListDocumentsQueryDto,
  ): Promise<DocumentPageDto> {
    return this.documents.list(storeId, query);
  }

  @Get(':documentId')
  @ApiOperation({ summary: 'Get a document and its ingestion status' })
  @ApiOkResponse({ type: DocumentDto })
  @ApiErrors(400, 404)
  get(
    @Param('storeId', ParseUUIDPipe) storeId: string,
    @Param('documentId', ParseUUIDPipe) documentId: string,
  ): Promise<DocumentDto> {
    return this.documents.get(storeId, documentId);
  }

  @Delete(':documentId')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Delete a document and its chunks' })
  @ApiNoContentResponse()
  @ApiErrors(400, 404)
  async remove(
    @Param('storeId', ParseUUIDPipe) storeId: string,
    @Param('documentId', ParseUUIDPipe) documentId: string,
  ): Promise<void> {
    await this.documents.remove(storeId, documentId);
  }
}

function requireText(dto: CreateDocumentDto): { title: string; content: string } {
  const missing = [
    ...(dto.content === undefined
      ? [{ field: 'content', messages: ['content is required (or upload a multipart "file")'] }]
      : []),
    ...(dto.title === undefined ? [{ field: 'title', messages: ['title is required with content'] }] : []),
  ];
  if (missing.length > 0 || dto.content === undefined || dto.title === undefined) {
    throw new ValidationFailedError(missing);
  }
  return { title: dto.title, content: dto.content };
}
