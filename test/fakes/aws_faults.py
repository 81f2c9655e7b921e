"""A forwarding proxy in front of moto_server that injects EC2 faults moto never raises.

Real EC2 answers a capacity shortage with HTTP 500 InsufficientInstanceCapacity;
moto never does. The pipe's AWS_ENDPOINT_URL points here; every request is
forwarded to moto unchanged unless a rule matches the RunInstances request
(by zone and market), in which case the error comes back as EC2 would send it.
"""

from __future__ import annotations

import argparse
import http.client
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_ERROR = """<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>
<RequestID>fault-injected</RequestID></Response>"""


@dataclass
class Fault:
    action: str  # EC2 Action, e.g. RunInstances
    code: str = "InsufficientInstanceCapacity"
    status: int = 500
    zone: str | None = None  # only requests for this AvailabilityZone / subnet zone
    spot: bool | None = None  # only spot (True) or on-demand (False) requests
    message: str = "We currently do not have sufficient capacity in the Availability Zone you requested."


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.faults: list[Fault] = []
        self.subnet_zones: dict[str, str] = {}  # learnt from DescribeSubnets answers
        self.injected = 0
        self.requests: list[tuple[float, str]] = []  # (arrival time.time(), EC2 Action), for the benchmarks
        self.record: set[str] = set()  # Actions whose answers are kept in `answers` (tests that look for leaks)
        self.answers: list[tuple[str, bytes]] = []  # (Action, body as moto answered it)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _match(self, params: dict[str, list[str]]) -> Fault | None:
        action = params.get("Action", [""])[0]
        zone = params.get("Placement.AvailabilityZone", [""])[0]
        subnet = params.get("NetworkInterface.1.SubnetId", params.get("SubnetId", [""]))[0]
        zone = zone or self.subnet_zones.get(subnet, "")
        spot = params.get("InstanceMarketOptions.MarketType", [""])[0] == "spot"
        for fault in self.faults:
            if fault.action != action:
                continue
            if fault.zone is not None and fault.zone != zone:
                continue
            if fault.spot is not None and fault.spot != spot:
                continue
            return fault
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                self._forward()

            def do_GET(self) -> None:
                self._forward()

            def _forward(self) -> None:
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
                proxy.requests.append((arrived, params.get("Action", [""])[0]))
                fault = proxy._match(params)
                if fault is not None:
                    proxy.injected += 1
                    payload = _ERROR.format(code=fault.code, message=fault.message).encode()
                    self.send_response(fault.status)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection(proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                action = params.get("Action", [""])[0]
                if action == "DescribeSubnets":
                    proxy._learn_subnets(data)
                if action in proxy.record:
                    proxy.answers.append((action, data))
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

        return Handler

    def _learn_subnets(self, xml: bytes) -> None:
        import re

        text = xml.decode("utf-8", "replace")
        for block in re.findall(r"<item>(.*?)</item>", text, flags=re.S):
            subnet = re.search(r"<subnetId>(subnet-[^<]+)</subnetId>", block)
            zone = re.search(r"<availabilityZone>([^<]+)</availabilityZone>", block)
            if subnet and zone:
                self.subnet_zones[subnet.group(1)] = zone.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    proxy = FaultProxy(args.upstream).start()
    print(proxy.url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
