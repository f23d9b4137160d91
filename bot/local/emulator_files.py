"""The Slack emulator's file upload, as Slack speaks it: ``files.getUploadURLExternal`` hands out an upload URL
and file id, the bytes are POSTed raw to that URL (answered ``OK - <bytes>``), ``files.completeUploadExternal``
finishes it; then messages may show the file with an image block (``slack_file``), and blocks naming a file that
was not uploaded are refused with ``invalid_blocks``. Completed files are served at ``/files/<id>``."""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class UploadedFile:
    id: str
    filename: str
    length: int
    alt_text: str = ""
    title: str = ""
    data: bytes | None = None  # set by the upload
    completed: bool = False


class FileEndpoints:
    """Mixed into ``SlackEmulator`` (which provides ``url``, ``files``, ``_cond`` and ``_ts``)."""

    files: dict[str, UploadedFile]
    _cond: threading.Condition
    _ts: itertools.count[int]

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _start_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        filename, length = str(params.get("filename") or ""), str(params.get("length") or "")
        if not filename or not length.isdigit() or int(length) <= 0:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ts):010d}"
        with self._cond:
            self.files[file_id] = UploadedFile(file_id, filename, int(length), str(params.get("alt_txt") or ""))
        return {"ok": True, "upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    def receive_upload(self, file_id: str, data: bytes) -> tuple[int, str]:
        """The upload URL's answer: ``200 OK - <bytes>``, or 404 / 400 as Slack's upload host does."""
        with self._cond:
            found = self.files.get(file_id)
            if found is None or found.completed:
                return 404, "Not Found"
            if not data or len(data) != found.length:
                return 400, "Bad Request: length mismatch"
            found.data = data
        return 200, f"OK - {len(data)}"

    def _complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            wanted = [dict(f) for f in _as_list(params.get("files"))]
        except (ValueError, TypeError):
            return {"ok": False, "error": "invalid_arguments"}
        with self._cond:
            found = [self.files.get(str(f.get("id"))) for f in wanted]
            if not wanted or any(f is None or f.data is None for f in found):
                return {"ok": False, "error": "file_not_found"}
            done = []
            for entry, uploaded in zip(wanted, found, strict=True):
                assert uploaded is not None
                uploaded.completed, uploaded.title = True, str(entry.get("title") or uploaded.filename)
                png = uploaded.filename.endswith(".png")
                done.append({"id": uploaded.id, "name": uploaded.filename, "title": uploaded.title,
                             "mimetype": "image/png" if png else "application/octet-stream",
                             "size": uploaded.length, "url_private": f"{self.url}/files/{uploaded.id}"})  # fmt: skip
        return {"ok": True, "files": done}

    def file_bytes(self, file_id: str) -> bytes | None:
        with self._cond:
            found = self.files.get(file_id)
            return found.data if found is not None and found.completed else None

    def _unknown_image(self, blocks: list[dict[str, Any]]) -> bool:
        """Slack refuses blocks whose image names a file that was not uploaded (``invalid_blocks``)."""
        for block in blocks:
            file = block.get("slack_file") if block.get("type") == "image" else None
            if file is not None and self.file_bytes(str(file.get("id"))) is None:
                return True
        return False


def _as_list(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        value = json.loads(value) if value else []
    return list(value or [])
