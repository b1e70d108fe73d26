"""kie.ai: state and business rules (no HTTP here).

Credits are kept in hundredths of a credit in one pool (the live service shows fractional
balances), charged when a task is created (atomically, so two concurrent createTask calls never
overspend) and refunded in full when the task ends in `fail`. Tasks move waiting -> queuing ->
generating -> success | fail on the emulated clock; their result files are engine recipes
(image, video, speech), served by the emulator at /files/{id}.
"""
from __future__ import annotations

import functools
import hashlib
import heapq
import json
import re
import secrets
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from emulators.engine import sharing, values
from emulators.engine.files import FileRecord, content_type_for
from emulators.engine.jobs import FAIL_MARKER, Job, JobKind, carries_fail_marker
from emulators.engine.ledger import Wallet
from emulators.engine.outbound import OutboundPolicy
from emulators.engine import fixtures as fixture_file
from emulators.engine.store import StateRoot
from emulators.engine.provider import Backend
from emulators.engine.ids import hex_id
from emulators.media.probe import probe
from emulators.media.sniff import HEAD_SIZE, sniff
from emulators.providers.kie import profiles
from emulators.providers.kie.catalog import Catalog, Gone, Invalid, MediaFacts, TaskPlan
from emulators.providers.kie.profiles import PROFILES, Profile

TASK_JOB = JobKind("task", phases=("waiting", "queuing", "generating"), success="success",
                   failure="fail")

POOL = "centicredits"  # the wallet's one pool, in hundredths of a credit
FAIL_CODE = "501"  # kie's "generation failed" status code, as a string (clients see both kinds)
FAIL_MSG = f"Generation failed: the input carries the {FAIL_MARKER} marker"
EXPIRED = "The file has expired and can no longer be downloaded"
UNSUPPORTED_URL = "Only kie.ai generated URLs are supported: external file URLs are not"
FILES_SEGMENT = "/files/"

# emulator.settings keys (the switches; reset with the emulator, kept in its snapshot).
SWITCHES: dict[str, Any] = {
    "profile": "documented",  # "documented" or "live" (profiles.py); httpStatus is its old name
    "maintenance": False,  # every API call answers 455
    "disabledFeatures": [],  # endpoint names (or "*") answering 505
    "allowedHosts": [],  # extra hosts callbacks and file-url-upload may reach ("*": any)
    "callbackRetryDelays": None,  # seconds between callback attempts (None: the fixture's)
}
ENDPOINT_NAMES = ("credit", "download-url", "createTask", "recordInfo", "file-stream-upload",
                  "file-url-upload", "file-base64-upload")


class NotFound(LookupError):
    pass


class ForeignFile(LookupError):
    """A URL of a file the emulator serves for another account."""


@dataclass(slots=True)
class _Launch:
    """What `emulators serve` chose for one emulator, and the ports it was reached on: kept
    outside the state, so a reset or a restore keeps them."""

    profile: Profile | None = None
    ports: set[int] = field(default_factory=set)


_launch: weakref.WeakKeyDictionary[Any, _Launch] = weakref.WeakKeyDictionary()


def _launch_of(emulator: Any) -> _Launch:
    launch = _launch.get(emulator)
    if launch is None:
        launch = _launch[emulator] = _Launch()
    return launch


def set_launch_profile(emulator: Any, profile: str) -> None:
    """`emulators serve --profile live`: the profile this emulator starts with and returns to on
    reset (a `profile` switch set through /_emulator/settings still wins until the reset)."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}")
    _launch_of(emulator).profile = profile  # type: ignore[assignment]


@dataclass(slots=True)
class Account:
    token: str
    wallet: Wallet  # one pool: "centicredits"
    webhookHmacKey: str
    rateLimit: int
    rateWindowSeconds: float
    userId: int = 0


@dataclass(slots=True)
class Task:
    id: str
    owner: str
    model: str
    kind: str  # image | video | audio
    param: str  # the request body as a JSON string
    callBackUrl: str | None
    baseUrl: str  # where the client reached the emulator (for URLs in callbacks)
    createdAt: float
    cost: int  # hundredths of a credit
    charge: dict[str, int] = field(default_factory=dict)  # what a failure refunds
    # Tuples, not lists: most tasks have one result and no callback, and () is one shared
    # object (a list costs 56 bytes even empty). Replaced, never changed in place.
    files: tuple[str, ...] = ()  # ids of stored result files (tasks saved before derived results)
    callbacks: tuple[dict[str, Any], ...] = ()  # delivery attempts
    failMsg: str | None = None  # why it will fail (None: it succeeds)
    # The recipe of its result as JSON text without the seed (the task id is the seed): the
    # result is derived from the task (KieBackend.derived_file), served while the task has
    # succeeded and its retention lasts. Shared by the tasks of equal requests. None: no result.
    result: str | None = None


@dataclass(slots=True)
class Upload:
    fileId: str
    fileName: str
    filePath: str
    mimeType: str
    size: int
    uploadedAt: float


@dataclass(slots=True)
class Issued:
    """A file URL handed out to `owner`: an upload, a download link or a result."""

    owner: str
    kind: str  # upload | link | result
    expiresAt: float | None


@dataclass
class KieState(StateRoot):
    settings: dict[str, Any]
    catalog: dict[str, Any]
    accounts: dict[str, Account] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)  # "token\n<filePath>" -> upload
    issued: dict[str, Issued] = field(default_factory=dict)  # file id -> to whom, until when


def _cents(credits: Any) -> int:
    if isinstance(credits, bool) or not isinstance(credits, (int, float)):
        raise ValueError("credits must be a number")
    cents = round(credits * 100)
    if abs(cents - credits * 100) > 1e-6:
        raise ValueError("credits have at most two decimals")
    if cents < 0:
        raise ValueError("credits must be >= 0")
    return int(cents)


_FLOATISH = re.compile(r"\d[.eE]")


def param_text(body: dict[str, Any]) -> str:
    """The request body as recordInfo's `param` string: what json.dumps writes (compact, non-ASCII
    kept). orjson writes the same text ten times faster, except for floats (`1e+16` is `1e16`
    there): a text with a digit before a point or an exponent, even inside a string, takes
    json.dumps."""
    try:
        text = orjson.dumps(body).decode()
    except (TypeError, orjson.JSONEncodeError):  # an integer past 64 bits
        text = None
    if text is None or _FLOATISH.search(text):
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return text


RESULT_SUFFIX = "-r."  # a derived result's file id: the task id, this, the format ("png", "mp4", ...)


def result_text(recipe: dict[str, Any]) -> str:
    """A result recipe as the text a task keeps (one object for the tasks of equal requests)."""
    text = sharing.text(orjson.dumps(recipe).decode())
    assert text is not None
    return text


@functools.lru_cache(maxsize=256)
def _result_format(text: str) -> str:
    """The format (and file extension) of a result recipe's text: few distinct texts."""
    return str(orjson.loads(text)["format"])


def file_id_of(url: str) -> str | None:
    """The file id in a URL of the emulator's own file host (any host: clients may rewrite it)."""
    try:
        path = unquote(urlsplit(url).path)
    except ValueError:
        return None
    if FILES_SEGMENT not in path:
        return None
    file_id = path.split(FILES_SEGMENT, 1)[1]
    return file_id if file_id and "/" not in file_id else None


class KieBackend(Backend):
    State = KieState
    state: KieState

    def __init__(self, emulator: Any, state: KieState) -> None:
        super().__init__(emulator, state)
        _upgrade(state)
        self.catalog = Catalog(state.catalog)
        # (when, "upload" | "issued", key), earliest first: what `tick` forgets, costing what expires
        self._expiries: list[tuple[float, str, str]] = []

    # -- seeding -----------------------------------------------------------------------------------
    @classmethod
    def seed(cls, emulator: Any, fixtures: Path) -> KieBackend:
        settings = fixture_file.load(fixtures / "settings.yaml")
        catalog = fixture_file.load(fixtures / "models.yaml")
        backend = cls(emulator, KieState(settings=settings, catalog=catalog))
        for token, spec in fixture_file.load(fixtures / "accounts.yaml")["accounts"].items():
            backend.put_account(token, spec)
        return backend

    # -- switches ------------------------------------------------------------------------------------
    def switch(self, name: str) -> Any:
        if name == "profile":
            return self.profile()
        value = self.emulator.settings.get(name)
        return SWITCHES[name] if value is None else value

    def profile(self) -> Profile:
        settings = self.emulator.settings
        value = settings.get("profile") or settings.get("httpStatus")  # httpStatus: states saved before
        if value in PROFILES:
            return value  # type: ignore[no-any-return]
        return _launch_of(self.emulator).profile or "documented"

    def launch_profile(self, name: str) -> None:
        set_launch_profile(self.emulator, name)

    def settings_view(self) -> dict[str, Any]:
        view = {name: self.switch(name) for name in SWITCHES}
        view["httpStatus"] = view["profile"]  # the old name, kept as an alias
        return view

    def put_settings(self, fields: dict[str, Any]) -> dict[str, Any]:
        fields = dict(fields)
        if "httpStatus" in fields:
            alias = fields.pop("httpStatus")
            if fields.get("profile", alias) != alias:
                raise ValueError("profile and httpStatus (its alias) disagree")
            fields["profile"] = alias
        for name, value in fields.items():
            if name not in SWITCHES:
                raise ValueError(f"unknown setting {name!r}; known: {', '.join(SWITCHES)}, httpStatus")
            if name == "profile" and value not in PROFILES:
                raise ValueError(f"profile must be one of: {', '.join(PROFILES)}")
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
        self.emulator.settings.pop("httpStatus", None)
        self.emulator.settings.update(fields)
        return self.settings_view()

    # -- outbound requests -------------------------------------------------------------------------------
    def note_port(self, port: int | None) -> None:
        """A port this emulator was reached on: callbacks and fetches never go there."""
        if port is not None:
            _launch_of(self.emulator).ports.add(port)

    def outbound(self) -> OutboundPolicy:
        allowed = [*self.state.settings.get("allowed_hosts", []), *self.switch("allowedHosts")]
        return OutboundPolicy(allowed, own_ports=_launch_of(self.emulator).ports)

    def retry_delays(self) -> list[float]:
        delays = self.switch("callbackRetryDelays")
        if delays is None:
            delays = self.state.settings["callbacks"]["retry_delays"]
        return [float(d) for d in delays]

    # -- accounts --------------------------------------------------------------------------------------
    def account(self, token: str) -> Account | None:
        return self.state.accounts.get(token)

    def balance(self, account: Account) -> int | float:
        return profiles.credits(account.wallet.total(), self.profile())

    def account_view(self, token: str) -> dict[str, Any] | None:
        if token == "*":
            return self.settings_view()
        account = self.state.accounts.get(token)
        if account is None:
            return None
        cents = account.wallet.total()
        return {"token": token, "credits": cents // 100 if cents % 100 == 0 else cents / 100,
                "webhookHmacKey": account.webhookHmacKey, "userId": account.userId,
                "rateLimit": account.rateLimit, "rateWindowSeconds": account.rateWindowSeconds}

    def put_account(self, token: str, fields: dict[str, Any]) -> dict[str, Any]:
        allowed = {"credits": (int, float), "webhookHmacKey": str, "rateLimit": int,
                   "rateWindowSeconds": (int, float), "userId": int}
        for name, value in fields.items():
            if name not in allowed:
                raise ValueError(f"unknown account field {name!r}")
            if isinstance(value, bool) or not isinstance(value, allowed[name]):
                raise ValueError(f"{name} has the wrong type")
            if name == "credits":  # fractional: the live service shows hundredths
                values.number(name, value, 0, values.MAX_INT / 100)
            if name in ("rateLimit", "userId"):
                values.whole(name, value, 1)
            if name == "rateWindowSeconds":
                values.window_seconds(name, value)
            if name == "webhookHmacKey" and not value:
                raise ValueError("webhookHmacKey must not be empty")
        cents = _cents(fields["credits"]) if "credits" in fields else None
        account = self.state.accounts.get(token)
        if account is None:
            defaults = self.state.settings["defaults"]
            account = Account(token=token, wallet=Wallet({POOL: 0}),
                              webhookHmacKey=secrets.token_hex(16), rateLimit=defaults["rateLimit"],
                              rateWindowSeconds=float(defaults["rateWindowSeconds"]),
                              userId=secrets.randbelow(9_000_000) + 1_000_000)
            self.state.accounts[token] = account
        else:
            self.state.accounts.touch(token)
        if cents is not None:
            account.wallet.pools[POOL] = cents
        if "webhookHmacKey" in fields:
            account.webhookHmacKey = fields["webhookHmacKey"]
        if "rateLimit" in fields:
            account.rateLimit = fields["rateLimit"]
        if "rateWindowSeconds" in fields:
            account.rateWindowSeconds = float(fields["rateWindowSeconds"])
        if "userId" in fields:
            account.userId = fields["userId"]
        view = self.account_view(token)
        assert view is not None
        return view

    # -- files the emulator serves -------------------------------------------------------------------------
    def _live_record(self, file_id: str | None, now: float) -> FileRecord | None:
        record = self.emulator.file(file_id) if file_id else None
        if record is None or (record.expires_at is not None and now >= record.expires_at):
            return None
        return record

    def inspect(self, url: str, now: float) -> MediaFacts | Gone | None:
        """What the emulator knows of a URL a task uses: None for a URL it never handed out."""
        file_id = file_id_of(url)
        record = self._live_record(file_id, now)
        if record is None:
            return Gone(url) if self._issued(file_id) is not None else None
        recipe = record.recipe
        if recipe is not None:
            kind = recipe.get("kind")
            return MediaFacts(url, record.name, "mp3" if kind == "speech" else recipe.get("format"),
                              record.size, recipe.get("width"), recipe.get("height"),
                              recipe.get("duration") if kind == "video" else None)
        assert record.sha256 is not None
        path = self.emulator.blobs.path(record.sha256)
        info = probe(path) if path.is_file() else None
        if info is not None:
            return MediaFacts(url, record.name, info.format, record.size, info.width, info.height,
                              info.duration)
        head = b""
        if path.is_file():
            with path.open("rb") as fh:
                head = fh.read(HEAD_SIZE)
        return MediaFacts(url, record.name, sniff(head), record.size, None, None, None)

    def on_bound(self) -> None:
        files = self.emulator.state.files
        expiries = [(record.expires_at, "upload", key) for key, upload in self.state.uploads.items()
                    if (record := files.get(upload.fileId)) is not None and record.expires_at is not None]
        memory = self._memory()
        expiries += [(entry.expiresAt + memory, "issued", file_id) for file_id, entry in self.state.issued.items()
                     if entry.kind != "result" and entry.expiresAt is not None]
        heapq.heapify(expiries)
        self._expiries = expiries

    def _memory(self) -> float:
        """How long an expired upload or link is still told apart from a foreign URL."""
        return float(self.state.settings["retention"]["remember_expired_seconds"])

    def _issued(self, file_id: str | None) -> Issued | None:
        """To whom a file URL was handed out: a stored entry, or a derived result's task."""
        if not file_id:
            return None
        issued = self.state.issued.get(file_id)
        if issued is None:
            task = self._result_task(file_id)
            if task is not None:
                expires = self._result_expiry(task, self.emulator.clock.now())
                if expires is not None:
                    issued = Issued(owner=task.owner, kind="result", expiresAt=expires)
        return issued

    # -- derived results ------------------------------------------------------------------------------
    def result_ids(self, task: Task) -> tuple[str, ...]:
        """The ids of a task's result files (kept in its record after they expire)."""
        if task.result is None:
            return task.files
        return (*task.files, f"{task.id}{RESULT_SUFFIX}{_result_format(task.result)}")

    def _result_task(self, file_id: str) -> Task | None:
        """The task whose derived result `file_id` names."""
        task_id, mark, ext = file_id.partition(RESULT_SUFFIX)
        task = self.state.tasks.get(task_id) if mark else None
        if task is None or task.result is None or ext != _result_format(task.result):
            return None
        return task

    def _result_expiry(self, task: Task, now: float) -> float | None:
        """When a succeeded task's result stops being served; None while it has not succeeded."""
        job = self.emulator.job(task.id)
        if job is None or job.state_at(now) != "success":
            return None
        return job.finishes_at + float(self.state.settings["retention"]["result_seconds"])

    def derived_file(self, file_id: str) -> FileRecord | None:
        task = self._result_task(file_id)
        if task is None:
            return None
        assert task.result is not None
        expires = self._result_expiry(task, self.emulator.clock.now())
        if expires is None:
            return None
        recipe = orjson.loads(task.result)
        recipe["seed"] = f"{recipe.get('seed', '')}{task.id}"
        return FileRecord.generated(file_id, content_type_for(recipe["format"]), task.createdAt, task.owner,
                                    recipe, expires, pack=False)

    def _issue(self, record: FileRecord, owner: str, kind: str) -> None:
        self.state.issued[record.id] = Issued(owner=owner, kind=kind, expiresAt=record.expires_at)
        if kind != "result" and record.expires_at is not None:
            heapq.heappush(self._expiries, (record.expires_at + self._memory(), "issued", record.id))

    def own_file(self, account: Account, url: str, now: float) -> FileRecord | None:
        """The caller's own file behind `url`; None when the URL is not one the emulator serves;
        ForeignFile for another account's file; Invalid(EXPIRED) for one no longer served."""
        file_id = file_id_of(url)
        record = self._live_record(file_id, now)
        if record is None:
            issued = self._issued(file_id)
            if issued is not None and issued.owner == account.token:
                raise Invalid(EXPIRED)
            if issued is not None:
                raise ForeignFile(url)
            return None
        if record.owner != account.token:
            raise ForeignFile(url)
        return record

    # -- tasks --------------------------------------------------------------------------------------------
    def plan(self, model_id: str, raw_input: Any, now: float) -> TaskPlan:
        """The validated task (Invalid otherwise); reads files, changes nothing."""
        return self.catalog.validate(model_id, raw_input, lambda url: self.inspect(url, now), seed="")

    def create_task(self, account: Account, plan: TaskPlan, body: dict[str, Any], callback: str | None,
                    base_url: str, now: float) -> Task:
        task_id = hex_id(16)
        fail_msg = _fail_reason(body.get("input"), plan)
        emulator = self.emulator
        with emulator.lock:
            cost = sharing.number(plan.price_cents)
            parts = emulator.charge(account.token, account.wallet, cost, task_id)  # InsufficientFunds
            # What a fleet repeats (its bodies, its callback, the emulator's address) is shared.
            task = Task(id=task_id, owner=account.token, model=sharing.text(plan.model_id), kind=plan.kind,
                        param=sharing.text(param_text(body)),
                        callBackUrl=sharing.text(callback), baseUrl=sharing.text(base_url), createdAt=now,
                        cost=cost, charge=parts, failMsg=fail_msg)
            if fail_msg is None:
                task.result = result_text(plan.recipe)
            emulator.create_job(TASK_JOB, task_id, account.token, self.catalog.timings(plan.kind),
                                fail_msg is not None)
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
        """recordInfo's `data` in the current profile."""
        return profiles.task_record(self._documented_record(task, now, base_url), self.profile())

    def _documented_record(self, task: Task, now: float, base_url: str) -> dict[str, Any]:
        job = self.emulator.job(task.id)
        state = self.task_state(task, now)
        entered = started = task.createdAt
        if job is not None:
            started = job.created_at  # the job's own clock reading: phases add up exactly from it
            if job.forced_state is not None and job.forced_at is not None:
                entered = job.forced_at
            else:
                entered = job.entered_at(job.state_at(now)) or job.created_at
        done = state in ("success", "fail")
        result = None
        if state == "success":  # the URLs stay in the record after the files expire
            urls = [f"{base_url}{FILES_SEGMENT}{file_id}" for file_id in self.result_ids(task)]
            result = json.dumps({"resultUrls": urls}, separators=(",", ":"))
        failed = state == "fail"
        # Times in ms from one rounding of the creation time, so that
        # completeTime - createTime == costTime exactly.
        created = _ms(task.createdAt)
        updated = created + _ms(entered - started)
        return {
            "taskId": task.id, "model": task.model, "state": state, "param": task.param,
            "resultJson": result,
            "failCode": FAIL_CODE if failed else None,
            "failMsg": (task.failMsg or "Generation failed") if failed else None,
            "costTime": updated - created if done else None,
            "completeTime": updated if done else None,
            "createTime": created, "updateTime": updated,
        }

    def recharge(self, job: Job, now: float) -> None:
        """A failed task forced into success pays again and gets its results made anew."""
        task = self.state.tasks.get(job.id)
        account = self.state.accounts.get(job.owner)
        if task is None or account is None:
            return
        parts = self.emulator.recharge(account.token, account.wallet, job.id)
        task = self.state.tasks.touch(job.id)
        task.charge = parts
        if not task.files and task.result is None:
            try:
                plan = self.plan(task.model, json.loads(task.param).get("input"), now)
            except (Invalid, ValueError, AttributeError):
                return  # its inputs are gone: a success without results
            task.result = result_text(plan.recipe)

    def on_job_finished(self, job: Job, now: float) -> None:
        """Refund a failed task, start the 24 h life of its results, send its callback."""
        task = self.state.tasks.get(job.id)
        if task is None:
            return
        files = self.emulator.state.files
        failed = job.state_at(now) == "fail"
        if failed or task.callBackUrl:  # what changes the task (a success alone leaves it as it is)
            self.state.tasks.touch(job.id)
        if failed:
            account = self.state.accounts.get(task.owner)
            if account is not None and task.charge:
                self.emulator.refund(account.token, account.wallet, task.charge, task.id)
            task.charge = {}
            for file_id in task.files:
                files.pop(file_id, None)
            task.files = ()
            task.result = None
        elif task.files:  # stored results (a task saved before derived ones): their 24 h start now
            # one time object for the results of every task this tick settles
            expires = sharing.number(now + float(self.state.settings["retention"]["result_seconds"]))
            for file_id in task.files:
                self.emulator.expire_file(file_id, expires)
                record = files.get(file_id)
                if record is not None:
                    self._issue(record, task.owner, "result")
        if task.callBackUrl:
            from emulators.providers.kie.webhooks import schedule_callback

            schedule_callback(self, task, now)

    def note_callback(self, task_id: str, attempt: dict[str, Any]) -> None:
        """Runs on the delivery thread: a unit of work of its own."""
        with self.emulator.lock, self.emulator.store.unit():
            if task_id in self.state.tasks:
                task = self.state.tasks.touch(task_id)
                task.callbacks = (*task.callbacks, attempt)

    # -- download links and uploads ------------------------------------------------------------------------
    def download_link(self, account: Account, url: str, now: float) -> FileRecord:
        """A new record for the same content, valid 20 minutes; Invalid for any other URL."""
        emulator = self.emulator
        try:
            record = self.own_file(account, url, now)
        except ForeignFile:
            record = None
        if record is None:
            raise Invalid(UNSUPPORTED_URL)
        ext = record.id.rsplit(".", 1)[-1]
        expires = now + float(self.state.settings["retention"]["download_link_seconds"])
        if record.sha256 is not None:
            link = emulator.add_upload(record.sha256, record.size or 0, ext, owner=account.token,
                                       name=record.name, expires_at=expires, content_type=record.content_type)
        else:
            assert record.recipe is not None
            link = emulator.add_generated(dict(record.recipe), ext, owner=account.token, expires_at=expires,
                                          content_type=record.content_type)
        self._issue(link, account.token, "link")
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
            self._issue(record, account.token, "upload")
            heapq.heappush(self._expiries, (expires, "upload", key))
        return upload

    def upload_view(self, account: Account, upload: Upload, download_url: str, uploaded_at: str) -> dict[str, Any]:
        data = {"fileName": upload.fileName, "filePath": upload.filePath, "downloadUrl": download_url,
                "fileSize": upload.size, "mimeType": upload.mimeType, "uploadedAt": uploaded_at}
        return profiles.upload_data(data, account.userId, self.profile())

    def tick(self, now: float) -> None:
        """Forgets uploads whose 3 days are over (their files stop being served on their own),
        and, 30 days later, that their URLs were ever handed out. A heap of expiry times: a
        request pays for what expires, never for what is stored."""
        expiries = self._expiries
        if not expiries or expiries[0][0] > now:
            return
        uploads, issued, files = self.state.uploads, self.state.issued, self.emulator.state.files
        while expiries and expiries[0][0] <= now:
            _, what, key = heapq.heappop(expiries)
            if what == "upload":
                upload = uploads.get(key)
                record = files.get(upload.fileId) if upload is not None else None
                if upload is not None and (record is None or (record.expires_at is not None
                                                              and record.expires_at <= now)):
                    files.pop(uploads.pop(key).fileId, None)
            else:
                entry = issued.get(key)
                if entry is not None and entry.kind != "result" and entry.expiresAt is not None \
                        and entry.expiresAt + self._memory() <= now:
                    del issued[key]


def _upgrade(state: KieState) -> None:
    """A state saved before credits were kept in hundredths (pool "credits") or before accounts
    had a user id: brought up to date, so old state files keep their balances."""
    for account in state.accounts.values():
        pools = account.wallet.pools
        if "credits" in pools:
            pools[POOL] = pools.get(POOL, 0) + pools.pop("credits") * 100
        if account.userId <= 0:
            account.userId = 1_000_000 + int(hashlib.sha256(account.token.encode()).hexdigest(), 16) % 9_000_000
    for task in state.tasks.values():
        if "credits" in task.charge:
            task.charge = {POOL: task.charge["credits"] * 100}
            task.cost *= 100


def _fail_reason(raw_input: Any, plan: TaskPlan) -> str | None:
    """Why a task will end in `fail`, or None: the marker in the input or in the name of an
    uploaded file it uses, or an input file the emulator no longer serves."""
    if carries_fail_marker(raw_input):
        return FAIL_MSG
    for facts in plan.inputs:
        if isinstance(facts, Gone):
            return f"Generation failed: the input file {facts.url} could not be downloaded (it has expired)"
        if facts.name and carries_fail_marker(facts.name):
            return f"Generation failed: the input file {facts.name} carries the {FAIL_MARKER} marker"
    return None


def _ms(ts: float) -> int:
    return int(round(ts * 1000))


__all__ = ["Invalid", "KieBackend", "set_launch_profile"]
