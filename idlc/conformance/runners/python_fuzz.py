"""Property test of the generated Python decoder, with hypothesis.

    python3 python_fuzz.py PACKAGE CASES.json [EXAMPLES]

Inputs are the conformance cases' bytes mutated by hypothesis (bytes
flipped, inserted, deleted, cut) and plain random bytes, decoded as each
case's type with random handle lists. Properties:

* decoding raises nothing but ``DecodeError`` (no crash, no other
  exception);
* no invalid message is accepted: FIDL v2 encoding is canonical, so a
  message the decoder accepts must encode back to exactly the same bytes
  and handles (tables included: their last envelope must be present).

``EXAMPLES`` (default 300) bounds the run per type; ``cargo test`` runs the
default, ``docs/sdk.md`` gives a longer run.
"""

import importlib
import json
import sys

from hypothesis import HealthCheck, given, settings, strategies as st


def hex_bytes(spec):
    if isinstance(spec, str):
        return bytes(int(pair, 16) for pair in spec.split())
    if isinstance(spec, list):
        return b"".join(hex_bytes(item) for item in spec)
    return hex_bytes(spec["bytes"]) * spec["repeat"]


def main():
    package, cases_path = sys.argv[1], sys.argv[2]
    examples = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    wire = importlib.import_module(f"{package}._wire")
    with open(cases_path, encoding="utf-8") as file:
        suite = json.load(file)
    module = importlib.import_module(f"{package}.{suite['library'].replace('.', '_')}")
    seeds = {}
    for case in suite.get("success", []) + suite.get("decode_failure", []):
        seeds.setdefault(case["type"], []).append(hex_bytes(case["bytes"]))
    # float32 values pass through Python floats, which may quiet a
    # signalling NaN: `Primitives` is checked for crashes only.
    lossy = {"Primitives"}

    handle = st.builds(
        wire.HandleInfo,
        st.integers(1, 2**32 - 1),
        st.sampled_from([0, 3, 4, 5]),
        st.sampled_from([0, 4, 6, 8, wire.NO_RIGHTS_CHECK]),
    )

    def mutated(seed_list):
        @st.composite
        def build(draw):
            data = bytearray(draw(st.sampled_from(seed_list)))
            for _ in range(draw(st.integers(0, 4))):
                action = draw(st.sampled_from(["flip", "set", "insert", "delete", "cut"]))
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
            return bytes(data)

        return st.one_of(build(), st.binary(max_size=96))

    checked = 0
    for name, seed_list in sorted(seeds.items()):
        cls = getattr(module, name)

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(mutated(seed_list), st.lists(handle, max_size=3))
        def decode_is_total_and_canonical(data, handles):
            try:
                value = wire.decode(cls, data, handles)
            except wire.DecodeError:
                return
            if name in lossy:
                return
            again, sent = wire.encode(value)
            assert [h.handle for h in sent] == [h.handle for h in handles], f"{name}: handles {sent}"
            assert again == data, f"{name}: accepted {data.hex(' ')} re-encodes as {again.hex(' ')}"

        decode_is_total_and_canonical()
        checked += 1
    print(f"{checked} types, {examples} examples each: no crash, no invalid message accepted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
