"""The generated Python decoder against the Rust one, under hypothesis.

    python3 python_differential.py PACKAGE TYPES HELPER [EXAMPLES]

PACKAGE is the Python package generated for the system's IDL libraries,
TYPES a file of ``module class`` lines (the message types, in the order
the helper numbers them), HELPER the ``idlc-differential`` binary (the
Rust bindings of the same libraries, served over a pipe).

Inputs: every message type's seeds (valid messages the Rust bindings
encoded) mutated by hypothesis (bytes flipped, set, inserted, deleted,
cut; handle count changed), and plain random bytes as a random type.
Properties, for every input:

* decoding raises nothing but ``DecodeError`` (no crash, no other
  exception);
* no invalid message is accepted: what decodes encodes again to exactly
  the same bytes and handles (FIDL v2 encoding is canonical, tables
  included: their last envelope is present);
* the Rust decoder agrees: it rejects with the same error kind, or it
  accepts and encodes the message again to the same bytes and handles.

``EXAMPLES`` (default 3000) bounds the run; ``cargo test`` runs the
default, ``docs/sdk.md`` gives a longer run.
"""

import importlib
import subprocess
import sys

from hypothesis import HealthCheck, given, settings, strategies as st

RIGHTS = 0xFFFFFFFF
HANDLES = [11, 12, 13]


class Rust:
    """The Rust decoder behind ``idlc-differential serve``."""

    def __init__(self, helper):
        self.process = subprocess.Popen(
            [helper, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def roundtrip(self, index, handles, data):
        self.process.stdin.write(f"{index} {handles} {data.hex()}\n")
        self.process.stdin.flush()
        words = self.process.stdout.readline().split()
        if words[0] == "ok":
            encoded = bytes.fromhex(words[1]) if len(words) > 1 else b""
            sent = [int(h) for h in words[2].split(",")] if len(words) > 2 else []
            return ("ok", encoded, sent)
        if words[0] == "err":
            return ("err", words[1])
        raise RuntimeError(f"helper: {' '.join(words)}")


def main():
    package, types_path, helper = sys.argv[1], sys.argv[2], sys.argv[3]
    examples = int(sys.argv[4]) if len(sys.argv) > 4 else 3000
    wire = importlib.import_module(f"{package}._wire")
    classes = []
    with open(types_path, encoding="utf-8") as file:
        for line in file:
            module, name = line.split()
            classes.append(getattr(importlib.import_module(f"{package}.{module}"), name))
    seeds = subprocess.run([helper, "seeds"], check=True, capture_output=True, text=True).stdout
    seeds = [
        (int(index), int(handles), bytes.fromhex(data))
        for index, handles, data in (line.split() for line in seeds.splitlines())
    ]
    rust = Rust(helper)

    @st.composite
    def mutated(draw):
        index, handles, seed = draw(st.sampled_from(seeds))
        data = bytearray(seed)
        for _ in range(draw(st.integers(0, 4))):
            action = draw(st.sampled_from(["flip", "set", "insert", "delete", "cut", "handles"]))
            if action == "handles":
                handles = draw(st.integers(0, 3))
                continue
            if action != "insert" and not data:
                continue
            at = draw(st.integers(0, max(len(data) - 1, 0)))
            if action == "flip":
                data[at] ^= 1 << draw(st.integers(0, 7))
            elif action == "set":
                data[at] = draw(st.sampled_from([0, 1, 2, 0x7F, 0x80, 0xFF]))
            elif action == "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=8))
            elif action == "delete":
                del data[at]
            else:
                del data[at:]
        return index, handles, bytes(data)

    random_input = st.tuples(
        st.integers(0, len(classes) - 1), st.integers(0, 3), st.binary(max_size=96)
    )
    tally = {"accepted": 0, "inputs": 0}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(mutated(), mutated(), mutated(), random_input))
    def python_agrees_with_rust(case):
        index, handles, data = case
        cls = classes[index]
        infos = [wire.HandleInfo(h, 0, RIGHTS) for h in HANDLES[:handles]]
        tally["inputs"] += 1
        try:
            value = wire.decode(cls, data, infos)
        except wire.DecodeError as error:
            verdict = ("err", error.kind)
        else:
            try:
                again, sent = wire.encode(value)
            except wire.EncodeError as error:
                raise AssertionError(f"{cls.__name__}: {data.hex(' ')} decodes but does not encode: {error}")
            verdict = ("ok", again, [h.handle for h in sent])
            assert verdict[2] == HANDLES[:handles], f"{cls.__name__}: handles {verdict[2]}"
            assert again == data, f"{cls.__name__}: accepted {data.hex(' ')} re-encodes as {again.hex(' ')}"
            tally["accepted"] += 1
        expected = rust.roundtrip(index, handles, data)
        assert verdict == expected, f"{cls.__name__} with {handles} handles, {data.hex(' ')}: Python {verdict}, Rust {expected}"

    python_agrees_with_rust()
    print(
        f"{len(classes)} types, {tally['inputs']} inputs, {tally['accepted']} accepted: "
        "no crash, no invalid message accepted, Rust agrees"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
