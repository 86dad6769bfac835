"""Reads an export file the way a user's own Python tooling would, with cbor2 and zstandard.

    read_export.py single-call FILE   one zstandard.ZstdDecompressor().decompress() call
    read_export.py cbor FILE          FILE is already decompressed (e.g. by `zstd -d`)

Prints one JSON object: the records in the JSON mapping of docs/export-format.md, and the
Python types the reader saw where the format promises them.
"""
import base64
import datetime
import io
import json
import sys

import cbor2
import zstandard


def to_json(value, path, problems):
    if isinstance(value, cbor2.CBORTag):
        problems.append(f"{path}: unknown tag {value.tag}")
        return None
    if value is cbor2.undefined:
        problems.append(f"{path}: undefined")
        return None
    if isinstance(value, datetime.datetime):
        utc = value.astimezone(datetime.timezone.utc)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {key: to_json(item, f"{path}.{key}", problems) for key, item in value.items()}
    if isinstance(value, list):
        return [to_json(item, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    return value


def type_name(value):
    return type(value).__name__


def main():
    mode, path = sys.argv[1], sys.argv[2]
    data = open(path, "rb").read()
    if mode == "single-call":
        # Needs the content size in the frame header: the format promises it.
        data = zstandard.ZstdDecompressor().decompress(data)
    records, problems, types = [], [], []
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        record = cbor2.CBORDecoder(stream).decode()
        records.append(to_json(record, f"record[{len(records)}]", problems))
        request = record["capture"]["request"] if "capture" in record else {}
        types.append({
            "id": type_name(record["id"]),
            "timestamp": type_name(record["timestamp"]),
            "timestamp_tz": str(record["timestamp"].tzinfo),
            "usage": sorted({type_name(v) for v in record["usage"].values()}),
            "duration_ms": type_name(record["duration_ms"]),
            "status_code": type_name(record["status_code"]),
            "raw_body": type_name(request["raw_body"]) if "raw_body" in request else None,
            "estimated_cost": type_name(record["estimated_cost"]["total_usd"]) if "estimated_cost" in record else None,
        })
    json.dump({"records": records, "types": types, "problems": problems}, sys.stdout)


if __name__ == "__main__":
    main()
