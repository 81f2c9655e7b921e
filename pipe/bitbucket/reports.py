"""What a report publishes besides its comment: files in the repository's Downloads, Code Insights reports."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from pipe.bitbucket import parse
from pipe.bitbucket.api import ApiBase, seg
from pipe.bitbucket.models import Download, ReportData

ANNOTATIONS_PER_REQUEST = 100  # Bitbucket's limit per POST


class ReportsApi(ApiBase):
    # --- downloads
    def _download_html(self, name: str) -> str:
        base = urlsplit(self.http.api_url)
        host = "bitbucket.org" if base.netloc == "api.bitbucket.org" else base.netloc
        return f"{base.scheme}://{host}/{self.workspace}/{self.repo_slug}/downloads/{quote(name)}"

    def list_downloads(self) -> Iterator[Download]:
        yield from self.http.paginate(
            f"{self._repo}/downloads", parse=lambda d: parse.download(d, self._download_html(str(d.get("name", ""))))
        )

    def upload_download(self, name: str, content: bytes) -> Download:
        def post() -> Download:
            self.http.request(
                "POST",
                f"{self._repo}/downloads",
                files=[("files", (name, content, "application/octet-stream"))],
                ok=(200, 201),
            )
            return Download(name=name, html_url=self._download_html(name), size=len(content))

        return self._create(
            f"download {name}", post, lambda: next((d for d in self.list_downloads() if d.name == name), None)
        )

    # --- Code Insights
    def put_report(
        self,
        commit: str,
        report_id: str,
        *,
        title: str,
        details: str,
        report_type: str = "TEST",
        result: str | None = None,
        data: list[ReportData] | None = None,
        link: str = "",
    ) -> None:
        body: dict[str, Any] = {
            "title": title,
            "details": details,
            "report_type": report_type,
            "reporter": "CML Runner",
        }
        if result:
            body["result"] = result
        if data:
            body["data"] = [{"title": d.title, "type": d.type, "value": d.value} for d in data]
        if link:
            body["link"] = link
        self.http.request(
            "PUT", f"{self._repo}/commit/{seg(commit)}/reports/{seg(report_id)}", json_body=body, ok=(200, 201)
        )

    def add_annotations(self, commit: str, report_id: str, annotations: list[Mapping[str, object]]) -> None:
        path = f"{self._repo}/commit/{seg(commit)}/reports/{seg(report_id)}/annotations"
        for i in range(0, len(annotations), ANNOTATIONS_PER_REQUEST):
            chunk = [dict(a) for a in annotations[i : i + ANNOTATIONS_PER_REQUEST]]
            # Annotations are keyed by external_id: posting the same ones again updates them, creates nothing.
            self.http.request("POST", path, json_body=chunk, ok=(200, 201), repeatable=True)

