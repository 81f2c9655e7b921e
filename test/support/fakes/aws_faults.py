"""A forwarding proxy in front of moto_server that injects EC2 faults and enforces EC2 rules moto does not.

Real EC2 answers a capacity shortage with HTTP 500 InsufficientInstanceCapacity;
moto never does. The pipe's AWS_ENDPOINT_URL points here; every request is
forwarded to moto unchanged unless a rule matches the RunInstances request
(by zone and market), in which case the error comes back as EC2 would send it.

Root snapshots: moto gives every AMI a 15 GB root snapshot and accepts any root
volume size. Real AMIs differ (the Deep Learning Base GPU AMIs are about 100 GB),
and EC2 refuses a smaller root volume with InvalidBlockDeviceMapping. For the
AMIs in ``ami_root_gb`` the proxy reports that size in DescribeImages and refuses
RunInstances the way EC2 does.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import re
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fakes.aws_iam import IamEnforcement
from fakes.aws_images import ImageRules
from fakes.aws_quotas import ServiceQuotas, refusal

EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15"
# EC2's refusal of a root volume smaller than the AMI's root snapshot, as users quote it (HTTP 400; note the
# double space): "Volume of size 35GB is smaller than  snapshot 'snap-0764200248800a04f', expect size >= 50GB"
# (openshift/origin-ci-tool#153, scylladb/scylladb#6999, NVIDIA/ngc-examples#3).
SMALLER_THAN_SNAPSHOT = "Volume of size {size}GB is smaller than  snapshot '{snapshot}', expect size >= {need}GB"

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
    where: dict[str, str] | None = None  # only requests with these query parameters, e.g. {"Owner.1": "self"}


class FaultProxy:
    def __init__(self, upstream: str, ami_root_gb: Mapping[str, int] | None = None) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.faults: list[Fault] = []
        self.ami_root_gb: dict[str, int] = dict(ami_root_gb or {})  # AMI id -> root snapshot size (GB)
        self.subnet_zones: dict[str, str] = {}  # learnt from DescribeSubnets answers
        self.injected = 0
        self.requests: list[tuple[float, str]] = []  # (arrival time.time(), EC2 Action), for the benchmarks
        self.record: set[str] = set()  # Actions whose answers are kept in `answers` (tests that look for leaks)
        self.answers: list[tuple[str, bytes]] = []  # (Action, body as moto answered it)
        self.images = ImageRules(self.upstream)  # CreateImage's rules and image states (aws_images.py)
        self.quotas = ServiceQuotas()  # EC2's vCPU quotas, which moto does not answer (aws_quotas.py)
        self._vcpus_known: dict[str, int] = {}  # instance type -> vCPUs, read from moto once
        self.iam: IamEnforcement | None = None  # set: IAM enforced, with EC2's side checks (aws_iam.py)
        # instance id -> what its guest wrote to the serial console: GetConsoleOutput answers it (moto answers a
        # fixed sample of a 2006 Xen boot for every instance).
        self.consoles: dict[str, str] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def enforce_iam(self, iam: IamEnforcement | None) -> None:
        """IAM enforced through this proxy (aws_iam.py), or (None) no longer."""
        self.iam = self.images.iam = iam

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
            if fault.where and any(params.get(k, [""])[0] != v for k, v in fault.where.items()):
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
                headers = dict(self.headers.items())
                quota = proxy.quotas.answer(headers.get("X-Amz-Target", ""), body, _region(headers))
                if quota is not None:
                    self.send_response(quota[0])
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(quota[1])))
                    self.end_headers()
                    self.wfile.write(quota[1])
                    return
                params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
                proxy.requests.append((arrived, params.get("Action", [""])[0]))
                denied = proxy.iam.refuse(params, dict(self.headers.items())) if proxy.iam else None
                if denied is not None:
                    self.send_response(denied.status)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(denied.xml)))
                    self.end_headers()
                    self.wfile.write(denied.xml)
                    return
                fault = proxy._match(params) or proxy._broken_rule(params) or proxy._over_quota(params)
                refused = None if fault else proxy.images.refuse(params, dict(self.headers.items()))
                if refused:
                    fault = Fault(params["Action"][0], refused.code, refused.status, message=refused.message)
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
                body = proxy.images.request(params, body)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
                headers["Content-Length"] = str(len(body))
                if proxy.iam is not None:  # the body may have changed: signed again, by the same caller
                    url = f"http://{proxy.upstream.netloc}{self.path}"
                    headers = proxy.iam.sign(self.command, url, dict(self.headers.items()), body)
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                action = params.get("Action", [""])[0]
                if action == "DescribeSubnets":
                    proxy._learn_subnets(data)
                if action == "DescribeImages" and answer.status == 200:
                    data = proxy._real_root_sizes(data)
                data = proxy.images.answered(params, data, dict(self.headers.items()))
                if action == "GetConsoleOutput" and answer.status == 200:
                    data = proxy._console(params.get("InstanceId", [""])[0], data)
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

    def _broken_rule(self, params: dict[str, list[str]]) -> Fault | None:
        """RunInstances with a root volume smaller than the AMI's root snapshot: EC2's InvalidBlockDeviceMapping."""
        if params.get("Action", [""])[0] != "RunInstances":
            return None
        need = self.ami_root_gb.get(params.get("ImageId", [""])[0])
        if need is None:
            return None
        n = 1
        while f"BlockDeviceMapping.{n}.DeviceName" in params:
            size = params.get(f"BlockDeviceMapping.{n}.Ebs.VolumeSize", [""])[0]
            if params[f"BlockDeviceMapping.{n}.DeviceName"][0] == "/dev/sda1" and size and int(size) < need:
                message = SMALLER_THAN_SNAPSHOT.format(size=size, snapshot="snap-0fa7e1root0snap01", need=need)
                return Fault("RunInstances", code="InvalidBlockDeviceMapping", status=400, message=message)
            n += 1
        return None

    def _over_quota(self, params: dict[str, list[str]]) -> Fault | None:
        """RunInstances of a type whose vCPUs are past its bucket's quota (aws_quotas.py): EC2's refusal."""
        if params.get("Action", [""])[0] != "RunInstances":
            return None
        instance_type = params.get("InstanceType", [""])[0]
        spot = params.get("InstanceMarketOptions.MarketType", [""])[0] == "spot"
        refused = refusal(self.quotas, instance_type, self._vcpus(instance_type), spot)
        if refused is None:
            return None
        return Fault("RunInstances", code=refused[0], status=400, message=refused[1])

    def _vcpus(self, instance_type: str) -> int:
        """The type's vCPUs as moto describes them (its 1,395 types)."""
        if instance_type not in self._vcpus_known:
            import boto3

            ec2 = boto3.client(
                "ec2", region_name="us-east-1", endpoint_url=self.upstream.geturl(),
                aws_access_key_id="AKIAFAKEFORTESTS0001", aws_secret_access_key="fake-aws-secret-key-for-tests-0001",
            )  # fmt: skip
            try:
                types = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
            except Exception:  # noqa: BLE001 - an unknown type: moto refuses the RunInstances itself
                types = []
            self._vcpus_known[instance_type] = int(types[0]["VCpuInfo"]["DefaultVCpus"]) if types else 0
        return self._vcpus_known[instance_type]

    def _real_root_sizes(self, xml: bytes) -> bytes:
        """DescribeImages as EC2 would answer it: the root mapping's volumeSize is the AMI's snapshot size."""
        if not self.ami_root_gb:
            return xml
        ET.register_namespace("", EC2_XMLNS)
        root = ET.fromstring(xml)  # noqa: S314 - moto's own answer
        ns = {"e": EC2_XMLNS}
        for image in root.iterfind("e:imagesSet/e:item", ns):
            need = self.ami_root_gb.get(image.findtext("e:imageId", "", ns))
            device = image.findtext("e:rootDeviceName", "", ns)
            for mapping in image.iterfind("e:blockDeviceMapping/e:item", ns):
                size = mapping.find("e:ebs/e:volumeSize", ns)
                if need is not None and size is not None and mapping.findtext("e:deviceName", "", ns) == device:
                    size.text = str(need)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def _console(self, instance_id: str, xml: bytes) -> bytes:
        """GetConsoleOutput with the guest's own console: base64 of its most recent 64 KB, as EC2 keeps it
        ("Amazon EC2 preserves the most recent 64 KB output", EC2 API reference, GetConsoleOutput)."""
        text = self.consoles.get(instance_id)
        if text is None:
            return xml
        tail = base64.b64encode(text.encode()[-64 * 1024 :]).decode()
        return re.sub(rb"<output>.*?</output>", f"<output>{tail}</output>".encode(), xml, count=1, flags=re.S)

    def _learn_subnets(self, xml: bytes) -> None:
        import re

        text = xml.decode("utf-8", "replace")
        for block in re.findall(r"<item>(.*?)</item>", text, flags=re.S):
            subnet = re.search(r"<subnetId>(subnet-[^<]+)</subnetId>", block)
            zone = re.search(r"<availabilityZone>([^<]+)</availabilityZone>", block)
            if subnet and zone:
                self.subnet_zones[subnet.group(1)] = zone.group(1)


def _region(headers: Mapping[str, str]) -> str:
    """The region a SigV4 request was signed for (Authorization: ... Credential=KEY/DATE/REGION/SERVICE/...)."""
    parts = headers.get("Authorization", "").split("Credential=")[-1].split("/")
    return parts[2] if len(parts) > 2 else "us-east-1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    from fakes.moto import AMI_ROOT_GB

    proxy = FaultProxy(args.upstream, AMI_ROOT_GB).start()
    print(proxy.url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
