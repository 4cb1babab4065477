"""One job runner for dataset tools (mask_synth, mfr.align): parallel, sharded, resumable, nothing lost.

A job is a picklable object with `name`, `config()` (the options that shape its outputs), `setup()`
(once per process: load models), `outputs(source)` (the files it writes) and `__call__(source) -> record`, a JSON-able dict with at least
"source" and "status" (failures carry a "reason"). The runner skips the sources the manifest
already holds, fans the rest out to worker processes and appends each record to the manifest (JSON
Lines, flushed as it arrives). A job writes its outputs atomically before it returns the record, so a
record always means its files are complete, and a killed run loses only the images in flight.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import signal
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mask_synth.dataset import write_atomic
from mfr.errors import ConfigError, DataError

FAILED = "failed"
CHUNK = 4  # sources handed to a worker at a time: small, so that few are in flight when a run dies


class Job(Protocol):
    name: str

    def config(self) -> dict: ...

    def setup(self) -> None: ...

    def outputs(self, source: str) -> list[str]: ...

    def __call__(self, source: str) -> dict: ...


@dataclass(frozen=True)
class Shard:
    """Part `index` of `count` of a dataset, chosen by a hash of each source path (stable as files are added)."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ConfigError(f"--shard={text!r}; allowed: i/n (e.g. 0/8)") from None
        if not 0 <= index < count:
            raise ConfigError(f"--shard={text!r}; allowed: i/n with 0 <= i < n")
        return cls(index, count)

    def holds(self, source: str) -> bool:
        return self.count == 1 or zlib.crc32(source.encode()) % self.count == self.index

    @property
    def manifest_name(self) -> str:
        return "manifest.jsonl" if self.count == 1 else f"manifest-{self.index:03d}-of-{self.count:03d}.jsonl"


def iter_manifest(path: Path):
    """The records of one manifest file, one at a time. A last line cut short by a killed run is ignored."""
    with open(path, encoding="utf-8") as f:
        previous = None
        for number, line in enumerate(f, 1):
            if previous is not None:
                yield _parse(previous, path, number - 1)
            previous = line
        if previous is not None and previous.endswith("\n"):
            yield _parse(previous, path, number)


def _parse(line: str, path: Path, number: int) -> dict:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        raise DataError(f"{path}, line {number}: not a JSON record; fix or delete this line") from None


def read_manifest(path: Path) -> list[dict]:
    return list(iter_manifest(path))


def iter_records(out_dir: Path):
    """Every record of every manifest file of `out_dir` (all shards), in file order."""
    for path in sorted(Path(out_dir).glob("manifest*.jsonl")):
        yield from iter_manifest(path)


def load_records(out_dir: Path) -> dict[str, dict]:
    """The latest record of every source in `out_dir`'s manifests."""
    return {record["source"]: record for record in iter_records(out_dir)}


def _outcome(record: dict) -> tuple[str, str | None]:
    """What the runner keeps of a record: its status and, for a failure, the reason (a few bytes, not the record)."""
    return record["status"], record.get("reason") if record["status"] == FAILED else None


def _open_for_append(path: Path):
    """Open a manifest for appending, first cutting off a partial last line left by a killed run."""
    if path.exists() and path.stat().st_size:
        with open(path, "rb+") as f:
            data = f.read()
            if not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    return open(path, "a", encoding="utf-8")


def check_config(out_dir: Path, name: str, config: dict) -> None:
    """Refuse to resume into an output made with other options; record the options on a first run."""
    path = Path(out_dir) / f"{name}.json"
    wanted = json.loads(json.dumps(config))
    if path.exists():
        stored = json.loads(path.read_text())
        changed = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        if changed:
            detail = ", ".join(f"{k}: {stored.get(k)!r} there, {wanted.get(k)!r} now" for k in changed)
            raise ConfigError(
                f"{out_dir} was made with other options ({detail}); rerun with the same options or use a new output folder"
            )
        return
    write_atomic(path, json.dumps(wanted, indent=2, sort_keys=True) + "\n")


def output_clashes(job: Job, sources: list[str]) -> dict[str, str]:
    """Sources whose output files would overwrite an earlier source's (x.jpg and x.png in one folder), with the reason."""
    owner, clashes = {}, {}
    for source in sources:
        for name in job.outputs(source):
            if name in owner:
                clashes[source] = f"its output {name} would overwrite that of {owner[name]}: rename one of them"
                break
        else:
            owner.update(dict.fromkeys(job.outputs(source), source))
    return clashes


def _safe_call(job: Job, source: str) -> dict:
    """Run the job on one source; an unexpected error becomes a failed record, never a lost image."""
    try:
        return job(source)
    except Exception as error:  # noqa: BLE001 - every error must end up in the manifest
        return {"source": source, "status": FAILED, "reason": f"unexpected {type(error).__name__}: {error}"}


_WORKER_JOB: Job | None = None


def _start_worker(job: Job) -> None:
    global _WORKER_JOB
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and shuts the pool down
    limit_threads()
    job.setup()
    _WORKER_JOB = job


def _work(source: str) -> dict:
    return _safe_call(_WORKER_JOB, source)


def limit_threads() -> None:
    """One thread per process: parallelism comes from worker processes, and idle thread pools on a
    busy machine make small OpenCV calls wait for threads that are not running."""
    import cv2

    cv2.setNumThreads(1)


@dataclass
class RunResult:
    total: int  # sources this run is responsible for (its shard)
    skipped: int  # already in the manifest when the run started
    this_run: Counter = field(default_factory=Counter)  # statuses recorded by this run
    statuses: Counter = field(default_factory=Counter)  # statuses of all the shard's sources now recorded
    reasons: Counter = field(default_factory=Counter)  # why the shard's failed sources failed
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def pending(self) -> int:
        return self.total - sum(self.statuses.values())


def run(
    job: Job,
    sources: list[str],
    out_dir: Path,
    *,
    workers: int = 1,
    shard: Shard = Shard(),
    retry_failed: bool = False,
    progress: bool = True,
    on_record: Callable[[dict], None] | None = None,
    rejected: Mapping[str, str] | None = None,
) -> RunResult:
    """Process every source of the shard that the manifest does not hold yet; see the module docstring.

    rejected: sources known beforehand not to be processable, with the reason, recorded as failed.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    check_config(out_dir, job.name, job.config())
    mine = [s for s in sources if shard.holds(s)]
    outcomes = {record["source"]: _outcome(record) for record in iter_records(out_dir)}
    done = {s for s in mine if s in outcomes and not (retry_failed and outcomes[s][0] == FAILED)}
    todo = [s for s in mine if s not in done]
    rejected = {s: rejected[s] for s in todo if s in rejected} if rejected else {}
    work = [s for s in todo if s not in rejected]
    result = RunResult(total=len(mine), skipped=len(done))
    start = time.perf_counter()
    bar = _progress_bar(len(todo), job.name) if progress and todo else None
    manifest = _open_for_append(out_dir / shard.manifest_name)
    pool = None
    try:
        if workers > 1 and len(work) > 1:
            pool = multiprocessing.Pool(workers, initializer=_start_worker, initargs=(job,))
            results = pool.imap_unordered(_work, work, chunksize=CHUNK)
        else:
            limit_threads()
            job.setup()
            results = (_safe_call(job, s) for s in work)
        refused = ({"source": s, "status": FAILED, "reason": reason} for s, reason in rejected.items())
        for record in itertools.chain(refused, results):
            manifest.write(json.dumps(record, separators=(",", ":")) + "\n")
            manifest.flush()
            outcomes[record["source"]] = _outcome(record)
            result.this_run[record["status"]] += 1
            if on_record is not None:
                on_record(record)
            if bar is not None:
                bar.set_postfix(dict(result.this_run), refresh=False)
                bar.update()
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        if bar is not None:
            bar.close()
        manifest.flush()
        os.fsync(manifest.fileno())
        manifest.close()
    result.seconds = time.perf_counter() - start
    for s in mine:
        if s in outcomes:
            status, reason = outcomes[s]
            result.statuses[status] += 1
            if status == FAILED:
                result.reasons[reason or ""] += 1
    return result


def _progress_bar(total: int, name: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit="img", file=sys.stderr, dynamic_ncols=True, smoothing=0.05)


def summary(result: RunResult, name: str, statuses: tuple[str, ...]) -> str:
    """The end-of-run report: counts by status (those named first), failure reasons, throughput."""
    counts = ", ".join(f"{result.statuses.get(s, 0)} {s}" for s in statuses)
    others = ", ".join(f"{n} {s}" for s, n in sorted(result.statuses.items()) if s not in statuses)
    lines = [f"{name}: {result.total} images: {counts}" + (f", {others}" if others else "")]
    done_now = sum(result.this_run.values())
    rate = f" ({done_now / result.seconds:.1f} images/s)" if done_now and result.seconds > 0 else ""
    lines.append(f"  this run processed {done_now}{rate}; {result.skipped} were already in the manifest")
    for reason, n in result.reasons.most_common(10):
        lines.append(f"  failed x{n}: {reason}")
    if result.pending:
        lines.append(
            f"  {result.pending} not processed yet"
            + (" (interrupted)" if result.interrupted else "")
            + ": rerun the same command to resume"
        )
    return "\n".join(lines)
