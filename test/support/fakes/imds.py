"""An IMDSv2 stand-in answering as one EC2 instance of moto's, and the VM's agent program taken from a rendered
boot script: what spot recovery's tests and `make demo DEMO_ARGS=--spot` play the instance with."""

from __future__ import annotations

import base64
import gzip
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def agent_from_script(script: str | bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """(agent.json, the agent program's namespace) from a rendered boot script (text, or the gzip user data),
    as the VM would unpack them."""
    if isinstance(script, bytes):
        script = (gzip.decompress(script) if script[:2] == b"\x1f\x8b" else script).decode()
    agent_cfg = json.loads(re.search(r"<<CML_AGENT_JSON\n(.*?)\nCML_AGENT_JSON", script, re.S).group(1))  # type: ignore[union-attr]
    found = re.search(r"(\S+) <<'CML_AGENT_EOF'[^\n]*\n(.*?)\nCML_AGENT_EOF", script, re.S)
    assert found is not None, "no agent in the boot script"
    unpack, body = found.groups()  # as the script's own install_agent: unpack_packed (gzip + base64) or cat
    source = gzip.decompress(base64.b64decode(body)).decode() if unpack == "unpack_packed" else body
    program: dict[str, Any] = {"__name__": "cml_agent"}
    exec(compile(source, "cml-agent", "exec"), program)  # noqa: S102
    return agent_cfg, program


ROLE = "cml-checkpoints"
FAKE_KEYS = {"AccessKeyId": "AKIAFAKE", "SecretAccessKey": "fake", "Token": "t"}


class Imds:
    """IMDSv2 as EC2 answers it: a token first (PUT /latest/api/token), then, with it, the role's temporary keys,
    the spot notice once set, and any other path in `meta`; every request is recorded
    (docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-metadata-security-credentials.html)."""

    def __init__(self, keys: dict[str, str] | None = None) -> None:
        self.role = ROLE  # "": no instance profile
        self.notice = ""
        self.meta: dict[str, bytes] = {}  # other /latest/... paths
        self.requests: list[str] = []
        credentials = {**(keys or FAKE_KEYS), "Expiration": "2099-01-01T00:00:00Z"}
        imds = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_PUT(self) -> None:
                imds.requests.append("PUT " + self.path)
                self._send(200, b"TOKEN" if self.path == "/latest/api/token" else b"")

            def do_GET(self) -> None:
                imds.requests.append("GET " + self.path)
                if self.headers.get("X-aws-ec2-metadata-token") != "TOKEN":
                    return self._send(401, b"")
                base = "/latest/meta-data/iam/security-credentials/"
                if self.path == base and imds.role:
                    return self._send(200, imds.role.encode())
                if imds.role and self.path == base + imds.role:
                    return self._send(200, json.dumps(credentials).encode())
                if self.path == "/latest/meta-data/spot/instance-action" and imds.notice:
                    return self._send(200, imds.notice.encode())
                if self.path in imds.meta:
                    return self._send(200, imds.meta[self.path])
                return self._send(404, b"")

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class InstanceMetadata(Imds):
    """IMDSv2 answering as one moto instance: its image, type, subnet, groups, profile and user data, the role's
    keys, and a spot notice once set."""

    def __init__(self, instance: dict[str, Any], profile: str, user_data: bytes, region: str = "us-west-1") -> None:
        super().__init__()
        mac = "0a:00:00:00:00:01"
        md = "/latest/meta-data/"
        about = {
            md + "ami-id": instance["ImageId"], md + "instance-type": instance["InstanceType"], md + "mac": mac,
            md + f"network/interfaces/macs/{mac}/subnet-id": instance["SubnetId"],
            md + f"network/interfaces/macs/{mac}/security-group-ids": " ".join(
                g["GroupId"] for g in instance["SecurityGroups"]),
            md + "iam/info": json.dumps({"InstanceProfileArn": profile}), md + "placement/region": region,
            md + "block-device-mapping/root": "/dev/sda1",
        }  # fmt: skip
        self.meta = {path: value.encode() for path, value in about.items()}
        self.meta["/latest/user-data"] = user_data
