#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The HTTP contract (docs/http.md) against a running nginx, case by case.

Runs every case of tests/data/http-contract/cases.json with curl over mutual TLS and checks:
the status, the exact body and the refusal headers; the access-log line written with the
README's `mtlsauthz_json` log_format, parsed as JSON, key by key; and the decision record in the
error log, at its level. The identity keys are checked against the library's own rendering of
the certificate (`mtlsauthz identity --format json`).

    contract.py --port P --certs DIR --fixture cases.json --access-log F --error-log F --cli CLI

Prints "ok - ..." or "FAIL - ..." per check (bindings/nginx/t/run.sh counts them) and exits 1
on any failure.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

# docs/http.md, "The decision log", in order; nginx adds its timestamp as "time".
KEYS = ["decision", "reason", "rule", "dry_run", "operation", "status", "spiffe_id",
        "subject", "issuer", "serial", "sha256", "remote", "detail"]
REFUSAL_HEADERS = {"content-type": "application/json", "cache-control": "no-store",
                   "x-content-type-options": "nosniff"}

failures = 0


def check(desc, problems):
    global failures
    if problems:
        failures += 1
        print(f"FAIL - {desc}")
        for p in problems:
            print(f"    {p}")
    else:
        print(f"ok - {desc}")


def identity(cli, certs, name):
    """The identity keys of the decision log, as the library renders the certificate."""
    if name is None:
        return {k: None for k in ("spiffe_id", "subject", "issuer", "serial", "sha256")}
    out = subprocess.run([cli, "identity", "--format", "json", os.path.join(certs, name + ".pem")],
                         check=True, capture_output=True, text=True).stdout
    doc = json.loads(out)
    return {"spiffe_id": doc["spiffe_id"], "subject": doc["subject"]["dn"],
            "issuer": doc["issuer"]["dn"], "serial": doc["serial"], "sha256": doc["sha256"]}


def request(args, case, tmp):
    cmd = ["curl", "-s", "--path-as-is", "--cacert", os.path.join(args.certs, "ca.pem"),
           "-o", tmp + ".body", "-D", tmp + ".headers", "-w", "%{http_code}"]
    if case["method"] == "HEAD":
        cmd.append("-I")
    else:
        cmd += ["-X", case["method"]]
    if case["cert"] is not None:
        cmd += ["--cert", os.path.join(args.certs, case["cert"] + "-chain.pem"),
                "--key", os.path.join(args.certs, case["cert"] + ".key")]
    cmd.append(f"https://127.0.0.1:{args.port}{case['target']}")
    for f in (tmp + ".body", tmp + ".headers"):
        open(f, "wb").close()
    status = subprocess.run(cmd, capture_output=True, text=True).stdout
    with open(tmp + ".body", "rb") as f:
        body = f.read()
    if case["method"] == "HEAD":
        # curl -I writes the header block as the output: anything more would be a body
        with open(tmp + ".headers", "rb") as f:
            head = f.read()
        body = body[len(head):] if body.startswith(head) else body
    headers = {}
    with open(tmp + ".headers", "rb") as f:
        for line in f.read().decode("latin-1").splitlines()[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
    return int(status or 0), body, headers


def new_lines(path, seen, want):
    """The lines of path after the first `seen`, once there are `want` of them (or 5 s)."""
    for _ in range(50):
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()[seen:]
        if len(lines) >= want:
            return lines
        time.sleep(0.1)
    return lines


def records(lines):
    """(level, JSON text) of the decision records among error-log lines."""
    out = []
    for line in lines:
        marker = " mtlsauthz: {"
        i = line.find(marker)
        if i < 0:
            continue
        level = line[line.index("[") + 1:line.index("]")]
        out.append((level, line[i + len(marker) - 1:]))
    return out


def parse_record(text):
    """The JSON object at the start of text: nginx appends ", client: ..." after it."""
    doc, end = json.JSONDecoder().raw_decode(text)
    if not text[end:].startswith(", client: "):
        raise ValueError(f"the record is followed by {text[end:end + 20]!r}")
    return doc


def compare(doc, want):
    problems = []
    for k, v in want.items():
        if k not in doc:
            problems.append(f"no key {k!r}")
        elif doc[k] != v:
            problems.append(f"{k}: {doc[k]!r}, want {v!r}")
    return problems


def main():
    ap = argparse.ArgumentParser()
    for opt in ("--port", "--certs", "--fixture", "--access-log", "--error-log", "--cli",
                "--tmp"):
        ap.add_argument(opt, required=True)
    args = ap.parse_args()

    with open(args.fixture) as f:
        cases = json.load(f)["cases"]

    for case in cases:
        name = case["name"]
        seen_access = len(new_lines(args.access_log, 0, 0))
        seen_error = len(new_lines(args.error_log, 0, 0))

        status, body, headers = request(args, case, args.tmp)
        problems = []
        if status != case["status"]:
            problems.append(f"status {status}, want {case['status']}")
        if body != case["body"].encode():
            problems.append(f"body {body!r}, want {case['body']!r}")
        if case["status"] >= 400:
            for k, v in REFUSAL_HEADERS.items():
                if headers.get(k) != v:
                    problems.append(f"header {k}: {headers.get(k)!r}, want {v!r}")
        check(f"{name}: status, body and headers", problems)

        want = dict(identity(args.cli, args.certs, case["cert"]))
        want["remote"] = "127.0.0.1"
        want.update(case["log"])

        # the access log, with the README's log_format
        lines = new_lines(args.access_log, seen_access, 1)
        problems = []
        if len(lines) != 1:
            problems.append(f"{len(lines)} new access-log lines, want 1: {lines!r}")
        else:
            try:
                doc = json.loads(lines[0])
            except ValueError as e:
                doc = None
                problems.append(f"not JSON ({e}): {lines[0]!r}")
            if doc is not None:
                if list(doc) != ["time"] + KEYS:
                    problems.append(f"keys {list(doc)}, want {['time'] + KEYS}")
                problems += compare(doc, want)
                try:
                    datetime.datetime.fromisoformat(doc.get("time", ""))
                except (TypeError, ValueError):
                    problems.append(f"time {doc.get('time')!r} is not ISO 8601")
        check(f"{name}: the access log's JSON record, key by key", problems)

        # the error log: one record, at warn for a deny or a dry-run match, else at info
        recs = records(new_lines(args.error_log, seen_error, 1))
        level = "warn" if case["log"]["decision"] == "deny" or case["log"]["dry_run"] else "info"
        problems = []
        if len(recs) != 1:
            problems.append(f"{len(recs)} new records in the error log, want 1")
        else:
            if recs[0][0] != level:
                problems.append(f"level {recs[0][0]}, want {level}")
            try:
                doc = parse_record(recs[0][1])
                if list(doc) != KEYS:
                    problems.append(f"keys {list(doc)}, want {KEYS}")
                problems += compare(doc, want)
            except ValueError as e:
                problems.append(f"not JSON ({e}): {recs[0][1]!r}")
        check(f"{name}: the error log's record at {level}", problems)

    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
