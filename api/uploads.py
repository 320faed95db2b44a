"""Uploads: a document (PDF, JPEG or PNG) is stored before the submission or supplement that
names it by id. Size and type are checked before anything is stored; the type by the file's
first bytes, never the declared one. Files are content-addressed under ``data_dir/uploads``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from pathlib import Path as FsPath

from fastapi import APIRouter, Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api import schemas as s
from api.citizens import WriteQuota
from api.context import ApiContext, Ctx
from api.errors import FieldError
from domain.dossier import SubmittedDocument
from store.applicants import add_upload, uploads_by_id

router = APIRouter(prefix="/api/v1", tags=["citizens"])

# Magic numbers of the accepted file types: the declared type is not trusted.
_SIGNATURES = {
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}
_MULTIPART_OVERHEAD = 64 * 1024  # headers and the name field around the file


class _TextPartTooLarge(MultiPartException):
    def __init__(self, field: str, limit: int) -> None:
        super().__init__(f"the field {field!r} exceeds {limit} bytes")
        self.field = field


class _FieldNamingParser(MultiPartParser):
    """Starlette's multipart parser, except that a text part over the limit names its field
    (Starlette's own message, "Part exceeded maximum size", names none)."""

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current_part
        if part.file is None and len(part.data) + (end - start) > self.max_part_size:
            raise _TextPartTooLarge(part.field_name, self.max_part_size)
        super().on_part_data(data, start, end)


async def _read_form(request: Request, *, max_files: int, max_fields: int) -> FormData:
    """The multipart form, or the API's error naming what is wrong with it.

    Text parts are held in memory, so each is limited to ``_MULTIPART_OVERHEAD`` (the room the
    size check on Content-Length leaves beside the file); files keep their own limit.

    Raises:
        FieldError: 413 naming a text field over the limit; 400 on ``body`` for a malformed
            form or too many parts.
    """
    try:
        async with contextlib.aclosing(request.stream()) as stream:
            parser = _FieldNamingParser(
                request.headers,
                stream,
                max_files=max_files,
                max_fields=max_fields,
                max_part_size=_MULTIPART_OVERHEAD,
            )
            return await parser.parse()
    except _TextPartTooLarge as exc:
        raise FieldError(
            exc.field[:100] or "body",
            "text_too_large",
            f"the field exceeds {_MULTIPART_OVERHEAD} bytes",
            413,
        ) from None
    except MultiPartException as exc:
        raise FieldError("body", "invalid_multipart", exc.message, 400) from None


def _sniff(head: bytes) -> str | None:
    return next((kind for magic, kind in _SIGNATURES.items() if head.startswith(magic)), None)


def _store_file(directory: FsPath, digest: str, data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / digest
    if target.exists():
        return  # content-addressed: the same bytes are already there
    partial = directory / f".{digest}.{uuid.uuid4().hex}.part"
    partial.write_bytes(data)
    os.replace(partial, target)


@router.post(
    "/uploads",
    status_code=201,
    dependencies=[WriteQuota],
    summary="Upload a document (PDF, JPEG or PNG) before submitting",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "name"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "name": {
                                "type": "string",
                                "description": "the document's name as the catalog lists it",
                            },
                        },
                    }
                }
            },
        }
    },
)
async def upload(request: Request, ctx: Ctx) -> s.UploadResponse:
    """Store an uploaded document; size and type are checked before anything is stored."""
    limit = ctx.settings.upload_max_bytes
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise FieldError("file", "length_required", "send the upload with a Content-Length", 411)
    if int(length) > limit + _MULTIPART_OVERHEAD:
        raise FieldError("file", "too_large", f"the file exceeds {limit} bytes", 413)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise FieldError("file", "not_multipart", "send the file as multipart/form-data", 415)
    form = await _read_form(request, max_files=1, max_fields=4)
    try:
        file, name = form.get("file"), form.get("name")
        if not isinstance(file, UploadFile):
            raise FieldError("file", "missing", "Field required")
        if not isinstance(name, str):
            raise FieldError("name", "control_character", "the document's name, in plain text")
        return await store_upload(ctx, name, await file.read(limit + 1))
    finally:
        await form.close()


def check_upload(ctx: ApiContext, name: str, data: bytes) -> str:
    """The type of an uploaded document, once its name, size and type pass.

    Raises:
        FieldError: on ``name`` for a name that is not plain text of 1-300 characters; on
            ``file`` for a file over the size limit (413) or of a type not accepted (415).
    """
    limit = ctx.settings.upload_max_bytes
    allowed = ctx.settings.upload_types.split(",")
    if s.has_control_characters(name):
        raise FieldError("name", "control_character", "the document's name, in plain text")
    if not 1 <= len(s.nfc(name)) <= 300:
        raise FieldError("name", "string_too_short", "the document's name (1-300 characters)")
    if len(data) > limit:
        raise FieldError("file", "too_large", f"the file exceeds {limit} bytes", 413)
    kind = _sniff(data[:8])
    if kind is None or kind not in allowed:
        raise FieldError("file", "file_type", f"accepted types: {', '.join(allowed)}", 415)
    return kind


async def store_upload(ctx: ApiContext, name: str, data: bytes) -> s.UploadResponse:
    """Check (`check_upload`) and store one uploaded document: the upload route's and the
    portal's way in."""
    kind = check_upload(ctx, name, data)
    digest = hashlib.sha256(data).hexdigest()
    await asyncio.to_thread(_store_file, ctx.settings.data_dir / "uploads", digest, data)
    async with ctx.sessions() as session:
        row = add_upload(
            session,
            id=uuid.uuid4().hex,
            name_vi=s.nfc(name),
            content_type=kind,
            size_bytes=len(data),
            sha256=digest,
        )
        await session.commit()
    return s.view_of(s.UploadResponse, row)


async def uploaded_documents(
    ctx: ApiContext, ids: list[str], field: str
) -> list[SubmittedDocument]:
    """The documents of these uploads, in order, as a submission or supplement names them.

    Raises:
        FieldError: 422 on ``field.N`` for an id that names no upload.
    """
    async with ctx.sessions() as session:
        rows = await uploads_by_id(session, ids)
    documents = []
    for index, upload_id in enumerate(ids):
        row = rows.get(upload_id)
        if row is None:
            raise FieldError(f"{field}.{index}", "unknown_upload", "no upload has this id")
        documents.append(SubmittedDocument(name_vi=row.name_vi, sha256=row.sha256))
    return documents
