"""Slack file uploads (the ``FileUploads`` port): ``files.getUploadURLExternal``, the upload itself, then
``files.completeUploadExternal``. The file is shared with no channel: a card shows it with an image block naming
it (``slack_file``), so no public URL is needed."""

from __future__ import annotations

import httpx
from slack_sdk import WebClient

UPLOAD_TIMEOUT_S = 20.0


class SlackFileUploads:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    def upload(self, data: bytes, *, filename: str, title: str, alt_text: str) -> str:
        started = self._client.files_getUploadURLExternal(filename=filename, length=len(data), alt_txt=alt_text)
        url, file_id = str(started["upload_url"]), str(started["file_id"])
        response = httpx.post(
            url, content=data, headers={"Content-Type": "application/octet-stream"}, timeout=UPLOAD_TIMEOUT_S
        )
        if response.status_code != 200:
            raise RuntimeError(f"the upload of {filename} answered HTTP {response.status_code}")
        self._client.files_completeUploadExternal(files=[{"id": file_id, "title": title}])
        return file_id
