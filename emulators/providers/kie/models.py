"""kie.ai: state and business rules (no HTTP here).

Credits are whole credits in one pool, charged when a task is created (atomically, so two
concurrent createTask calls never overspend) and refunded in full when the task ends in `fail`.
Tasks move waiting -> queuing -> generating -> success | fail on the emulated clock; their result
files are engine recipes (image, video, speech), served by the emulator at /files/{id}.
"""
from __future__ import annotations

import ipaddress
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from emulators.engine import values
from emulators.engine.jobs import Job, JobKind, carries_fail_marker
from emulators.engine.ledger import Wallet
from emulators.engine.provider import Backend

TASK_JOB = JobKind("task", phases=("waiting", "queuing", "generating"), success="success",
                   failure="fail")

FAIL_CODE = "501"  # kie's "generation failed" status code, as a string (clients see both kinds)
FAIL_MSG = "Generation failed: the input carries the EMULATOR_FAIL marker"

# Result sizes per aspect ratio (pixels). Videos are kept small so they render fast.
IMAGE_SIZES = {"1:1": (1024, 1024), "16:9": (1344, 768), "9:16": (768, 1344), "4:3": (1152, 864),
               "3:4": (864, 1152), "3:2": (1216, 832), "2:3": (832, 1216), "21:9": (1536, 640),
               "auto": (1024, 1024)}
VIDEO_SIZES = {"16:9": (640, 360), "9:16": (360, 640), "1:1": (480, 480), "4:3": (480, 360),
               "3:4": (360, 480)}

# emulator.settings keys (the switches; reset with the emulator, kept in its snapshot).
SWITCHES: dict[str, Any] = {
    "httpStatus": "documented",  # "documented": HTTP status = code; "live": HTTP 200, code in body
    "maintenance": False,  # every API call answers 455
    "disabledFeatures": [],  # endpoint names (or "*") answering 505
    "allowedHosts": [],  # extra hosts callbacks and file-url-upload may reach ("*": any)
    "callbackRetryDelays": None,  # seconds between callback attempts (None: the fixture's)
}
ENDPOINT_NAMES = ("credit", "download-url", "createTask", "recordInfo", "file-stream-upload",
                  "file-url-upload", "file-base64-upload")


class Invalid(ValueError):
    """422 (400 on the upload API): the message says which field and why."""


class NotFound(LookupError):
    pass


@dataclass
class Account:
    token: str
    wallet: Wallet  # one pool: "credits"
    webhookHmacKey: str
    rateLimit: int
    rateWindowSeconds: float


@dataclass
class Task:
    id: str
    owner: str
    model: str
    kind: str  # image | video | audio
    param: str  # the request body as a JSON string
    callBackUrl: str | None
    baseUrl: str  # where the client reached the emulator (for URLs in callbacks)
    createdAt: float
    cost: int
    charge: dict[str, int] = field(default_factory=dict)  # what a failure refunds
    files: list[str] = field(default_factory=list)  # result file ids
    callbacks: list[dict[str, Any]] = field(default_factory=list)  # delivery attempts


@dataclass
class Upload:
    fileId: str
    fileName: str
    filePath: str
    mimeType: str
    size: int
    uploadedAt: float


@dataclass
class KieState:
    settings: dict[str, Any]
    catalog: dict[str, Any]
    accounts: dict[str, Account] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)  # "token\n<filePath>" -> upload


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def http_url(value: Any, max_length: int = 4096) -> bool:
    if not isinstance(value, str) or not value or len(value) > max_length:
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class KieBackend(Backend):
    State = KieState
    state: KieState

    def __init__(self, emulator: Any, state: KieState) -> None:
        super().__init__(emulator, state)
        self._next_expiry: float | None = None  # earliest upload expiry; None: scan on next tick

    # -- seeding -----------------------------------------------------------------------------------
    @classmethod
    def seed(cls, emulator: Any, fixtures: Path) -> KieBackend:
        settings = yaml.safe_load((fixtures / "settings.yaml").read_text())
        catalog = yaml.safe_load((fixtures / "models.yaml").read_text())
        backend = cls(emulator, KieState(settings=settings, catalog=catalog))
        for token, spec in yaml.safe_load((fixtures / "accounts.yaml").read_text())["accounts"].items():
            backend.put_account(token, spec)
        return backend

    # -- switches ------------------------------------------------------------------------------------
    def switch(self, name: str) -> Any:
        value = self.emulator.settings.get(name)
        return SWITCHES[name] if value is None else value

    def settings_view(self) -> dict[str, Any]:
        return {name: self.switch(name) for name in SWITCHES}

    def put_settings(self, fields: dict[str, Any]) -> dict[str, Any]:
        for name, value in fields.items():
            if name not in SWITCHES:
                raise ValueError(f"unknown setting {name!r}; known: {', '.join(SWITCHES)}")
            if name == "httpStatus" and value not in ("documented", "live"):
                raise ValueError('httpStatus must be "documented" or "live"')
            if name == "maintenance" and not isinstance(value, bool):
                raise ValueError("maintenance must be true or false")
            if name in ("disabledFeatures", "allowedHosts"):
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"{name} must be a list of strings")
                if name == "disabledFeatures":
                    unknown = [v for v in value if v != "*" and v not in ENDPOINT_NAMES]
                    if unknown:
                        raise ValueError(f"unknown features {unknown}; known: {', '.join(ENDPOINT_NAMES)}")
            if name == "callbackRetryDelays" and value is not None and (
                    not isinstance(value, list) or len(value) > 20 or not all(
                        isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 3600
                        for v in value)):
                raise ValueError("callbackRetryDelays must be a list of at most 20 numbers of seconds")
        self.emulator.settings.update(fields)
        return self.settings_view()

    def host_allowed(self, url: str) -> bool:
        host = urlsplit(url).hostname
        if is_loopback(host):
            return True
        allowed = [*self.state.settings.get("allowed_hosts", []), *self.switch("allowedHosts")]
        return "*" in allowed or (host or "").lower() in (h.lower() for h in allowed)

    def retry_delays(self) -> list[float]:
        delays = self.switch("callbackRetryDelays")
        if delays is None:
            delays = self.state.settings["callbacks"]["retry_delays"]
        return [float(d) for d in delays]

    # -- accounts --------------------------------------------------------------------------------------
    def account(self, token: str) -> Account | None:
        return self.state.accounts.get(token)

    def account_view(self, token: str) -> dict[str, Any] | None:
        if token == "*":
            return self.settings_view()
        account = self.state.accounts.get(token)
        if account is None:
            return None
        return {"token": token, "credits": account.wallet.total(),
                "webhookHmacKey": account.webhookHmacKey, "rateLimit": account.rateLimit,
                "rateWindowSeconds": account.rateWindowSeconds}

    def put_account(self, token: str, fields: dict[str, Any]) -> dict[str, Any]:
        allowed = {"credits": int, "webhookHmacKey": str, "rateLimit": int,
                   "rateWindowSeconds": (int, float)}
        for name, value in fields.items():
            if name not in allowed:
                raise ValueError(f"unknown account field {name!r}")
            if isinstance(value, bool) or not isinstance(value, allowed[name]):
                raise ValueError(f"{name} has the wrong type")
            if name in ("credits", "rateLimit"):
                values.whole(name, value, 0 if name == "credits" else 1)
            if name == "rateWindowSeconds":
                values.window_seconds(name, value)
            if name == "webhookHmacKey" and not value:
                raise ValueError("webhookHmacKey must not be empty")
        account = self.state.accounts.get(token)
        if account is None:
            defaults = self.state.settings["defaults"]
            account = Account(token=token, wallet=Wallet({"credits": 0}),
                              webhookHmacKey=secrets.token_hex(16), rateLimit=defaults["rateLimit"],
                              rateWindowSeconds=float(defaults["rateWindowSeconds"]))
            self.state.accounts[token] = account
        if "credits" in fields:
            account.wallet.pools["credits"] = fields["credits"]
        if "webhookHmacKey" in fields:
            account.webhookHmacKey = fields["webhookHmacKey"]
        if "rateLimit" in fields:
            account.rateLimit = fields["rateLimit"]
        if "rateWindowSeconds" in fields:
            account.rateWindowSeconds = float(fields["rateWindowSeconds"])
        view = self.account_view(token)
        assert view is not None
        return view

    # -- the model catalog --------------------------------------------------------------------------------
    def validate_input(self, model_id: str, raw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the model's catalog entry, the input normalized) or Invalid."""
        catalog = self.state.catalog
        model = catalog["models"].get(model_id)
        if model is None:
            raise Invalid(f"The model {model_id!r} is not supported")
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise Invalid("input must be an object")
        checks = catalog["fields"]
        limits = model.get("limits") or {}
        accepted = {*model["required"], *model.get("optional", [])}
        normalized: dict[str, Any] = {}
        for name in model["required"]:
            if raw.get(name) is None:
                raise Invalid(f"input.{name} is required")
        for name, value in raw.items():
            if name not in accepted or value is None:
                continue  # fields other models use are ignored, as the live service does
            normalized[name] = _check_field(name, value, checks[name], limits.get(name),
                                            name in model["required"])
        return model, normalized

    @staticmethod
    def price(model: dict[str, Any], values: dict[str, Any]) -> int:
        for rule in model.get("prices") or []:
            if all(values.get(k) == v for k, v in rule["when"].items()):
                return int(rule["credits"])
        return int(model["price"])

    # -- tasks --------------------------------------------------------------------------------------------
    def create_task(self, account: Account, model_id: str, model: dict[str, Any], values: dict[str, Any],
                    body: dict[str, Any], callback: str | None, base_url: str, now: float) -> Task:
        kind = model["kind"]
        cost = self.price(model, values)
        task_id = secrets.token_hex(16)
        fail = carries_fail_marker(body.get("input"))
        emulator = self.emulator
        with emulator.lock:
            parts = emulator.charge(account.token, account.wallet, cost, task_id)  # InsufficientFunds
            task = Task(id=task_id, owner=account.token, model=model_id, kind=kind,
                        param=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                        callBackUrl=callback, baseUrl=base_url, createdAt=now, cost=cost, charge=parts)
            if not fail:
                record = emulator.add_generated(_recipe(kind, values, task_id), _extension(kind, values),
                                                owner=account.token, expires_at=None)
                task.files.append(record.id)
            timings = self.state.catalog["kinds"][kind]["timings"]
            emulator.create_job(TASK_JOB, task_id, account.token, timings, fail)
            self.state.tasks[task_id] = task
        return task

    def task(self, account: Account, task_id: str) -> Task:
        task = self.state.tasks.get(task_id)
        if task is None or task.owner != account.token:
            raise NotFound(task_id)
        return task

    def task_state(self, task: Task, now: float) -> str:
        job = self.emulator.job(task.id)
        return str(job.state_at(now)) if job else "fail"

    def task_json(self, task: Task, now: float, base_url: str) -> dict[str, Any]:
        job = self.emulator.job(task.id)
        state = self.task_state(task, now)
        entered = task.createdAt
        if job is not None:
            if job.forced_state is not None and job.forced_at is not None:
                entered = job.forced_at
            else:
                entered = job.entered_at(job.state_at(now)) or task.createdAt
        done = state in ("success", "fail")
        result = None
        if state == "success":
            urls = [self.emulator.file_url(base_url, self.emulator.state.files[f])
                    for f in task.files if f in self.emulator.state.files]
            result = json.dumps({"resultUrls": urls}, separators=(",", ":"))
        # Times in ms from one rounding of the creation time, so that
        # completeTime - createTime == costTime exactly.
        created = _ms(task.createdAt)
        updated = created + _ms(entered - task.createdAt)
        return {
            "taskId": task.id, "model": task.model, "state": state, "param": task.param,
            "resultJson": result,
            "failCode": FAIL_CODE if state == "fail" else None,
            "failMsg": FAIL_MSG if state == "fail" else None,
            "costTime": updated - created if done else None,
            "completeTime": updated if done else None,
            "createTime": created, "updateTime": updated,
        }

    def on_job_finished(self, job: Job, now: float) -> None:
        """Refund a failed task, start the 24 h life of its results, send its callback."""
        task = self.state.tasks.get(job.id)
        if task is None:
            return
        files = self.emulator.state.files
        if job.state_at(now) == "fail":
            account = self.state.accounts.get(task.owner)
            if account is not None and task.charge:
                self.emulator.refund(account.token, account.wallet, task.charge, task.id)
            task.charge = {}
            for file_id in task.files:
                files.pop(file_id, None)
            task.files = []
        else:
            expires = now + float(self.state.settings["retention"]["result_seconds"])
            for file_id in task.files:
                self.emulator.expire_file(file_id, expires)
        if task.callBackUrl:
            from emulators.providers.kie.webhooks import schedule_callback

            schedule_callback(self, task, now)

    def note_callback(self, task_id: str, attempt: dict[str, Any]) -> None:
        with self.emulator.lock:
            task = self.state.tasks.get(task_id)
            if task is not None:
                task.callbacks.append(attempt)

    # -- files --------------------------------------------------------------------------------------------
    def _was_result_of(self, account: Account, url: str) -> bool:
        """A result URL of the caller's task whose file record the engine has since forgotten."""
        file_id = url.rsplit("/", 1)[-1].split("?", 1)[0]
        return any(t.owner == account.token and file_id in t.files for t in self.state.tasks.values())

    def download_link(self, account: Account, url: str, now: float) -> Any:
        """A new record for the same content, valid 20 minutes; Invalid for any other URL."""
        emulator = self.emulator
        record = emulator.file_from_url(url)
        if record is None and self._was_result_of(account, url):
            raise Invalid("The file has expired and can no longer be downloaded")
        if record is None or record.owner != account.token:
            raise Invalid("Only kie.ai generated URLs are supported: external file URLs are not")
        if record.expires_at is not None and now >= record.expires_at:
            raise Invalid("The file has expired and can no longer be downloaded")
        ext = record.id.rsplit(".", 1)[-1]
        expires = now + float(self.state.settings["retention"]["download_link_seconds"])
        if record.sha256 is not None:
            link = emulator.add_upload(record.sha256, record.size or 0, ext, owner=account.token,
                                       name=record.name, expires_at=expires, content_type=record.content_type)
        else:
            assert record.recipe is not None
            link = emulator.add_generated(dict(record.recipe), ext, owner=account.token, expires_at=expires,
                                          content_type=record.content_type)
        return link

    def save_upload(self, account: Account, blob: str, size: int, ext: str, mime: str, upload_path: str,
                    file_name: str, now: float) -> Upload:
        """Keeps an upload 3 days; the same path and name overwrite the earlier file (same URL)."""
        emulator = self.emulator
        file_path = f"{upload_path}/{file_name}" if upload_path else file_name
        key = f"{account.token}\n{file_path}"
        expires = now + float(self.state.settings["retention"]["upload_seconds"])
        with emulator.lock:
            old = self.state.uploads.get(key)
            file_id = old.fileId if old is not None and old.fileId.endswith("." + ext) else None
            if old is not None and file_id is None:
                emulator.state.files.pop(old.fileId, None)
            record = emulator.add_upload(blob, size, ext, owner=account.token, name=file_name,
                                         expires_at=expires, file_id=file_id, content_type=mime)
            upload = Upload(fileId=record.id, fileName=file_name, filePath=file_path, mimeType=mime,
                            size=size, uploadedAt=now)
            self.state.uploads[key] = upload
            if self._next_expiry is not None:
                self._next_expiry = min(self._next_expiry, expires)
        return upload

    def tick(self, now: float) -> None:
        """Forgets uploads whose 3 days are over (their files stop being served on their own).
        Scans only when the earliest expiry has passed, so requests stay cheap."""
        if self._next_expiry is not None and now < self._next_expiry:
            return
        uploads = self.state.uploads
        files = self.emulator.state.files
        next_expiry = float("inf")
        for key in list(uploads):
            record = files.get(uploads[key].fileId)
            expires = record.expires_at if record is not None and record.expires_at is not None else None
            if record is None or (expires is not None and expires <= now):
                files.pop(uploads.pop(key).fileId, None)
            elif expires is not None:
                next_expiry = min(next_expiry, expires)
        self._next_expiry = next_expiry


def _ms(ts: float) -> int:
    return int(round(ts * 1000))


def _check_field(name: str, value: Any, check: dict[str, Any], limit: int | None, required: bool) -> Any:
    kind = check["type"]
    if kind == "string":
        if not isinstance(value, str):
            raise Invalid(f"input.{name} must be a string")
        if required and not value.strip():
            raise Invalid(f"input.{name} cannot be empty")
        max_length = limit or check.get("max_length")
        if max_length and len(value) > max_length:
            raise Invalid(f"input.{name} must be at most {max_length} characters")
        if "enum" in check and value not in check["enum"]:
            raise Invalid(f"input.{name} must be one of: {', '.join(check['enum'])}")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise Invalid(f"input.{name} must be true or false")
        return value
    if kind == "duration":
        number: Any = value
        if isinstance(value, str) and value.strip().isdigit() and len(value) < 6:
            number = int(value.strip())
        if isinstance(number, bool) or not isinstance(number, int) or number not in check["enum"]:
            raise Invalid(f"input.{name} must be one of: {', '.join(map(str, check['enum']))}")
        return number
    if kind == "urls":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise Invalid(f"input.{name} must be a list of URLs")
        if required and not value:
            raise Invalid(f"input.{name} must not be empty")
        if len(value) > check["max_items"]:
            raise Invalid(f"input.{name} accepts at most {check['max_items']} URLs")
        for url in value:
            if not http_url(url):
                raise Invalid(f"input.{name} must hold http(s) URLs")
        return list(value)
    raise Invalid(f"input.{name} is not accepted")


def _extension(kind: str, values: dict[str, Any]) -> str:
    if kind == "image":
        return "jpeg" if values.get("output_format") == "jpeg" else "png"
    if kind == "video":
        return "mp4"
    return "mp3"


def _recipe(kind: str, values: dict[str, Any], seed: str) -> dict[str, Any]:
    aspect = values.get("aspect_ratio") or "16:9"
    if kind == "image":
        width, height = IMAGE_SIZES.get(values.get("aspect_ratio") or "1:1", (1024, 1024))
        return {"kind": "image", "width": width, "height": height, "format": _extension(kind, values),
                "seed": seed}
    if kind == "video":
        width, height = VIDEO_SIZES.get(aspect, (640, 360))
        return {"kind": "video", "duration": float(values.get("duration") or 5), "width": width,
                "height": height, "format": "mp4", "with_audio": bool(values.get("sound")), "seed": seed}
    return {"kind": "speech", "text": values.get("text") or values.get("prompt") or "", "format": "mp3",
            "voice": values.get("voice") or "default"}
