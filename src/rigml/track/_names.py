"""Readable default names for runs: ``brisk-otter-42`` is easier to say than an id."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "amber bold brisk calm clever cosmic crisp eager fair fluent gentle glad grand hardy keen "
    "lively lucid merry nimble noble quiet rapid sharp sleek steady sunny swift tidy vivid warm"
).split()
_NOUNS = (
    "badger beacon bison comet condor falcon ferret finch gecko heron ibis jaguar koala lynx "
    "marten newt orca otter panda puffin quokka raven robin salmon seal stoat tapir tern walrus"
).split()


def run_name() -> str:
    rnd = random.SystemRandom()
    return f"{rnd.choice(_ADJECTIVES)}-{rnd.choice(_NOUNS)}-{rnd.randint(1, 99)}"
