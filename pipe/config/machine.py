"""The machine a runner runs on: each cloud's rules for the generic CLOUD_* variables (a GPU, a spot price, an
image, the instance's own identity). Whether a type, GPU or region exists is the catalog's question
(pipe/providers/catalog.py); these are the checks that need no lookup."""

from __future__ import annotations

from collections.abc import Mapping

from pipe.config.parsers import check_text, parse_positive_float
from pipe.config.variables import ConfigError


def gpu(value: str) -> str:
    gpu = check_text(
        "CLOUD_GPU",
        value.lower(),
        max_length=64,
        pattern=r"[a-z0-9][a-z0-9._-]*",
        allowed="a GPU such as t4, a10g, l4, a100, h100, v100, or a native accelerator name",
    )
    if gpu in ("nogpu", "none"):
        return ""
    return "v100" if gpu == "tesla" else gpu  # CML maps 'tesla' to v100


def spot_price(env: Mapping[str, str], cloud: str, spot: bool) -> float | None:
    raw = env.get("CLOUD_SPOT_PRICE", "").strip()
    if not raw or raw == "-1":
        return None
    price = parse_positive_float(
        "CLOUD_SPOT_PRICE", raw, "a price in USD per hour greater than 0 (e.g. 0.5), or -1 for the on-demand price"
    )
    if cloud == "gcp":
        raise ConfigError("CLOUD_SPOT_PRICE", raw, "GCP spot VMs have no bidding price; leave it unset or -1")
    # Azure's maxPrice must be above 0 ("any decimal value greater than zero", BillingProfile.maxPrice) and the
    # request sends it to 5 decimals (pipe/providers/azure/request.py): a smaller price would be sent as 0.
    if cloud == "azure" and round(price, 5) <= 0:
        raise ConfigError("CLOUD_SPOT_PRICE", raw, "on Azure a price in USD per hour of at least 0.00001, or -1")
    if not spot:
        raise ConfigError("CLOUD_SPOT_PRICE", raw, "only with CLOUD_SPOT: 'true'")
    return price


SPOT_FALLBACKS = ("on-demand", "none")


def spot_fallback(env: Mapping[str, str], spot: bool, price: float | None) -> bool:
    """CLOUD_SPOT_FALLBACK: whether a spot shortage may end in an on-demand instance. A price cap is never
    exceeded unless the user says so: the default is `on-demand` without CLOUD_SPOT_PRICE, `none` with one."""
    raw = env.get("CLOUD_SPOT_FALLBACK", "").strip().lower()
    if not raw:
        return price is None
    if raw not in SPOT_FALLBACKS:
        raise ConfigError("CLOUD_SPOT_FALLBACK", raw, "on-demand or none")
    if not spot:
        raise ConfigError("CLOUD_SPOT_FALLBACK", raw, "only with CLOUD_SPOT: 'true'")
    return raw == "on-demand"


# CLOUD_IMAGE: stock boots the provider's Ubuntu image even when a baked image of ours exists (COMMAND: bake).
STOCK_IMAGE = "stock"


def is_stock(value: str) -> bool:
    return value.strip().lower() == STOCK_IMAGE


def image(value: str, cloud: str) -> str:
    """CLOUD_IMAGE as the cloud names images; "" when unset or `stock` (is_stock tells them apart)."""
    image = check_text("CLOUD_IMAGE", value, max_length=1024)
    if not image or is_stock(image):
        return ""
    if cloud == "azure" and not (len(image.split(":")) == 4 or image.startswith("/subscriptions/")):
        raise ConfigError("CLOUD_IMAGE", value, "on Azure, publisher:offer:sku:version or an image resource id")
    if cloud == "gcp" and "/" not in image:
        raise ConfigError("CLOUD_IMAGE", value, "on GCP, project/family or an image link")
    return image


def permission_set(value: str, cloud: str) -> str:
    if cloud == "kubernetes":
        return ""  # refused with its own line before (pipe.config.kubernetes.NOT_ON_KUBERNETES)
    allowed = {
        "aws": (
            r"arn:aws[a-z-]*:iam::\d{12}:instance-profile/[\w+=,.@/-]+|[\w+=,.@-]{1,128}",
            "on AWS, an instance profile ARN or name",
        ),
        "gcp": (r"[^@\s,]+@[^@\s,]+(,scopes=[^\s]+)?", "on GCP, service-account-email[,scopes=a,b]"),
        "azure": (
            r"/subscriptions/[^\s,]+(,/subscriptions/[^\s,]+)*",
            "on Azure, comma-separated user-assigned identity resource ids (/subscriptions/...)",
        ),
    }
    pattern, hint = allowed[cloud]
    return check_text("CLOUD_PERMISSION_SET", value, max_length=2048, pattern=pattern, allowed=hint)

