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


class InstanceMetadata:
    """IMDSv2 answering as one moto instance: its image, type, subnet, groups, profile and user data, the role's
    keys, and a spot notice once set."""

    def __init__(self, instance: dict[str, Any], profile: str, user_data: bytes, region: str = "us-west-1") -> None:
        self.notice, self.user_data = "", user_data
        mac = "0a:00:00:00:00:01"
        md = "/latest/meta-data/"
        keys = {"AccessKeyId": "AKIAFAKE", "SecretAccessKey": "fake", "Token": "t",
                "Expiration": "2099-01-01T00:00:00Z"}
        routes = {
            md + "ami-id": instance["ImageId"], md + "instance-type": instance["InstanceType"], md + "mac": mac,
            md + f"network/interfaces/macs/{mac}/subnet-id": instance["SubnetId"],
            md + f"network/interfaces/macs/{mac}/security-group-ids": " ".join(
                g["GroupId"] for g in instance["SecurityGroups"]),
            md + "iam/info": json.dumps({"InstanceProfileArn": profile}), md + "placement/region": region,
            md + "block-device-mapping/root": "/dev/sda1", md + "iam/security-credentials/": "cml-checkpoints",
            md + "iam/security-credentials/cml-checkpoints": json.dumps(keys),
        }  # fmt: skip
        outer = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_PUT(self) -> None:
                self._send(200, b"TOKEN")

            def do_GET(self) -> None:
                if self.path == "/latest/user-data":
                    return self._send(200, outer.user_data)
                if self.path == md + "spot/instance-action" and outer.notice:
                    return self._send(200, outer.notice.encode())
                found = routes.get(self.path)
                return self._send(200, found.encode()) if found is not None else self._send(404, b"")

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
