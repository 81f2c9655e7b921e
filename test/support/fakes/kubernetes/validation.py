"""The API server's own checks beyond the JSON schema, for the objects the pipe writes (422 Invalid causes).

Rules and wording from k8s.io/apimachinery/pkg/util/validation (names, label keys and values, sizes),
k8s.io/kubernetes/pkg/apis/core/validation (pods, containers, resources, tolerations, secrets) and
k8s.io/kubernetes/pkg/apis/batch/validation (jobs), Kubernetes 1.35:
- names: DNS-1123 subdomain (<= 253) for objects, DNS-1123 label (<= 63) for containers and volumes; a Job's
  name is also the value of the `batch.kubernetes.io/job-name` pod label, so at most 63 characters;
- labels: qualified-name keys, values <= 63 of `(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?`; annotations
  at most 256 KiB in total;
- a Job's pod template: restartPolicy OnFailure or Never; initContainers may only say restartPolicy Always
  (native sidecars); container names unique; requests <= limits; extended resources (nvidia.com/gpu) whole
  numbers, with a limit, and requests equal to limits (they cannot be overcommitted);
- tolerations: operator Exists takes no value, tolerationSeconds only with NoExecute;
- secrets: keys `[-._a-zA-Z0-9]+`, values base64, at most 1 MiB in total.
"""

from __future__ import annotations

import base64
import binascii
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from fakes.kubernetes.status import Cause

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
MAX_ANNOTATIONS_BYTES = 256 * 1024
MAX_SECRET_BYTES = 1024 * 1024
NATIVE_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_SUFFIX: dict[str, int | Decimal] = {
    "": 1,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def parse_quantity(text: Any) -> Decimal | None:
    """A resource.Quantity (`500m`, `4Gi`, `1`) as a number, or None when it is not one."""
    if isinstance(text, int | float):
        return Decimal(str(text))
    m = QUANTITY.match(str(text))
    if not m:
        return None
    number, suffix = m.groups()
    try:
        if suffix in _SUFFIX:
            return Decimal(number) * Decimal(_SUFFIX[suffix])
        if suffix[:1] in "eE":
            return Decimal(number + suffix)
    except InvalidOperation:
        return None
    return None


def _name(value: Any, where: str, *, label: bool, max_len: int) -> list[Cause]:
    text = str(value or "")
    pattern = DNS1123_LABEL if label else DNS1123_SUBDOMAIN
    if len(text) > max_len:
        return [
            Cause("FieldValueInvalid", where, f'Invalid value: "{text}": must be no more than {max_len} characters')
        ]
    if not pattern.match(text):
        kind = "RFC 1123 label" if label else "RFC 1123 subdomain"
        return [
            Cause(
                "FieldValueInvalid",
                where,
                f'Invalid value: "{text}": a lowercase {kind} must consist of lower case alphanumeric characters, '
                "'-' or '.', and must start and end with an alphanumeric character",
            )
        ]
    return []


def _label_key(key: str, where: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    if (prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix))) or len(name) > 63:
        return [
            Cause("FieldValueInvalid", where, f'Invalid value: "{key}": name part must be no more than 63 characters')
        ]
    if not QUALIFIED_NAME.match(name):
        return [
            Cause(
                "FieldValueInvalid",
                where,
                f"Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and "
                "must start and end with an alphanumeric character",
            )
        ]
    return []


def labels(values: Any, where: str) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in (values or {}).items():
        causes += _label_key(key, where)
        text = str(value)
        if len(text) > 63 or not LABEL_VALUE.match(text):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"{where}",
                    f'Invalid value: "{text}": a valid label must be an empty string or consist of alphanumeric '
                    "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
                    "(must be no more than 63 characters)",
                )
            )
    return causes


def metadata(meta: dict[str, Any], *, name_max: int = 253) -> list[Cause]:
    causes = labels(meta.get("labels"), "metadata.labels")
    annotations = meta.get("annotations") or {}
    for key in annotations:
        causes += _label_key(key, "metadata.annotations")
    size = sum(len(k) + len(str(v)) for k, v in annotations.items())
    if size > MAX_ANNOTATIONS_BYTES:
        causes.append(
            Cause(
                "FieldValueTooLong",
                "metadata.annotations",
                f"Too long: must have at most {MAX_ANNOTATIONS_BYTES} bytes",
            )
        )
    controllers = [r for r in meta.get("ownerReferences") or [] if r.get("controller")]
    if len(controllers) > 1:
        causes.append(
            Cause("FieldValueInvalid", "metadata.ownerReferences", "Only one reference can have Controller set to true")
        )
    if meta.get("name"):
        causes += _name(meta["name"], "metadata.name", label=False, max_len=name_max)
    elif not meta.get("generateName"):
        causes.append(Cause("FieldValueRequired", "metadata.name", "Required value: name or generateName is required"))
    return causes


def _resources(container: dict[str, Any], where: str) -> list[Cause]:
    causes: list[Cause] = []
    spec = container.get("resources") or {}
    limits, requests = spec.get("limits") or {}, spec.get("requests") or {}
    for kind, values in (("limits", limits), ("requests", requests)):
        for resource, raw in values.items():
            if parse_quantity(raw) is None:
                causes.append(
                    Cause(
                        "FieldValueInvalid",
                        f"{where}.resources.{kind}[{resource}]",
                        f'Invalid value: "{raw}": quantities must match the regular expression '
                        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                    )
                )
    for resource, raw in requests.items():
        request, limit = parse_quantity(raw), parse_quantity(limits.get(resource)) if resource in limits else None
        if request is not None and limit is not None and request > limit:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"{where}.resources.requests",
                    f'Invalid value: "{raw}": must be less than or equal to {resource} limit of {limits[resource]}',
                )
            )
    for resource in set(limits) | set(requests):
        if resource in NATIVE_RESOURCES or "/" not in resource or resource.startswith("hugepages-"):
            continue
        value = parse_quantity(limits.get(resource, requests.get(resource)))
        if value is not None and value != value.to_integral_value():
            causes.append(
                Cause(
                    "FieldValueInvalid", f"{where}.resources.requests[{resource}]", "Invalid value: must be an integer"
                )
            )
        if resource not in limits:
            causes.append(
                Cause(
                    "FieldValueRequired",
                    f"{where}.resources.limits",
                    "Required value: Limit must be set for non overcommitable resources",
                )
            )
        elif resource in requests and parse_quantity(requests[resource]) != parse_quantity(limits[resource]):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"{where}.resources.requests",
                    f"Invalid value: must be equal to {resource} limit of {limits[resource]}",
                )
            )
    return causes


def _containers(spec: dict[str, Any], where: str) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    volumes = {v.get("name") for v in spec.get("volumes") or []}
    for group in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(group) or []):
            path = f"{where}.{group}[{i}]"
            name = container.get("name", "")
            causes += _name(name, f"{path}.name", label=True, max_len=63)
            if name in seen:
                causes.append(Cause("FieldValueDuplicate", f"{path}.name", f'Duplicate value: "{name}"'))
            seen.add(name)
            if not str(container.get("image") or "").strip():
                causes.append(Cause("FieldValueRequired", f"{path}.image", "Required value"))
            policy = container.get("restartPolicy")
            if policy is not None and (group == "containers" or policy != "Always"):
                causes.append(
                    Cause(
                        "FieldValueNotSupported",
                        f"{path}.restartPolicy",
                        f'Unsupported value: "{policy}": supported values: "Always"'
                        if group == "initContainers"
                        else "Forbidden: may not be set for containers",
                    )
                )
            for j, mount in enumerate(container.get("volumeMounts") or []):
                if mount.get("name") not in volumes:
                    causes.append(
                        Cause(
                            "FieldValueNotFound", f"{path}.volumeMounts[{j}].name", f'Not found: "{mount.get("name")}"'
                        )
                    )
            for j, env in enumerate(container.get("env") or []):
                ref = ((env.get("valueFrom") or {}).get("secretKeyRef")) or None
                if ref is not None and (not ref.get("name") or not ref.get("key")):
                    causes.append(
                        Cause("FieldValueRequired", f"{path}.env[{j}].valueFrom.secretKeyRef", "Required value")
                    )
            causes += _resources(container, path)
    if not spec.get("containers"):
        causes.append(Cause("FieldValueRequired", f"{where}.containers", "Required value"))
    return causes


def _tolerations(spec: dict[str, Any], where: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, toleration in enumerate(spec.get("tolerations") or []):
        path = f"{where}.tolerations[{i}]"
        operator = toleration.get("operator") or "Equal"
        if operator not in ("Equal", "Exists"):
            causes.append(Cause("FieldValueNotSupported", f"{path}.operator", f'Unsupported value: "{operator}"'))
        if operator == "Exists" and toleration.get("value"):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"{path}.operator",
                    "Invalid value: value must be empty when `operator` is 'Exists'",
                )
            )
        if not toleration.get("key") and operator != "Exists":
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"{path}.operator",
                    "Invalid value: operator must be Exists when `key` is empty",
                )
            )
        effect = toleration.get("effect")
        if effect and effect not in TAINT_EFFECTS:
            causes.append(Cause("FieldValueNotSupported", f"{path}.effect", f'Unsupported value: "{effect}"'))
        if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"{path}.effect",
                    "Invalid value: effect must be 'NoExecute' when `tolerationSeconds` is set",
                )
            )
        if toleration.get("key"):
            causes += _label_key(str(toleration["key"]), f"{path}.key")
    return causes


def pod_spec(spec: dict[str, Any], where: str, *, in_job: bool) -> list[Cause]:
    causes = (
        _containers(spec, where) + _tolerations(spec, where) + labels(spec.get("nodeSelector"), f"{where}.nodeSelector")
    )
    policy = spec.get("restartPolicy", "Always")
    allowed = ("OnFailure", "Never") if in_job else ("Always", "OnFailure", "Never")
    if policy not in allowed:
        causes.append(
            Cause(
                "FieldValueNotSupported",
                f"{where}.restartPolicy",
                f'Unsupported value: "{policy}": supported values: ' + ", ".join(f'"{a}"' for a in allowed),
            )
        )
    for i, volume in enumerate(spec.get("volumes") or []):
        causes += _name(volume.get("name"), f"{where}.volumes[{i}].name", label=True, max_len=63)
    return causes


def job(doc: dict[str, Any]) -> list[Cause]:
    causes = metadata(doc.get("metadata") or {}, name_max=63)
    spec = doc.get("spec") or {}
    for field, minimum in (("activeDeadlineSeconds", 1), ("ttlSecondsAfterFinished", 0), ("backoffLimit", 0)):
        value = spec.get(field)
        if value is not None and value < minimum:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"spec.{field}",
                    f"Invalid value: {value}: must be greater than or equal to {minimum}",
                )
            )
    template = spec.get("template") or {}
    causes += labels((template.get("metadata") or {}).get("labels"), "spec.template.metadata.labels")
    causes += pod_spec(template.get("spec") or {}, "spec.template.spec", in_job=True)
    return causes


def pod(doc: dict[str, Any]) -> list[Cause]:
    return metadata(doc.get("metadata") or {}) + pod_spec(doc.get("spec") or {}, "spec", in_job=False)


def secret(doc: dict[str, Any]) -> list[Cause]:
    causes = metadata(doc.get("metadata") or {})
    total = 0
    for key, value in (doc.get("data") or {}).items():
        if not SECRET_KEY.match(key):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"data[{key}]",
                    f'Invalid value: "{key}": a valid config key must consist of alphanumeric '
                    "characters, '-', '_' or '.'",
                )
            )
        try:
            total += len(base64.b64decode(str(value), validate=True))
        except (binascii.Error, ValueError):
            causes.append(Cause("FieldValueInvalid", f"data[{key}]", "Invalid value: illegal base64 data"))
    total += sum(len(str(v).encode()) for v in (doc.get("stringData") or {}).values())
    if total > MAX_SECRET_BYTES:
        causes.append(Cause("FieldValueTooLong", "data", f"Too long: must have at most {MAX_SECRET_BYTES} bytes"))
    return causes


def event(doc: dict[str, Any]) -> list[Cause]:
    return metadata(doc.get("metadata") or {})


BY_PLURAL = {"jobs": job, "pods": pod, "secrets": secret, "events": event}
