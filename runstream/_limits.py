"""runstream's stated limits, enforced by the SDK at call time and checked
again by the consumer. docs/limits.md lists the same numbers.
"""

from __future__ import annotations

#: Longest metric, tag, column or artifact-folder name, in characters.
MAX_NAME_CHARS = 255
#: Widest integer a metric value may be, in bits (about 1,200 decimal
#: digits); wider ones would pass Python's int-to-text conversion limit.
MAX_BIGINT_BITS = 4_000
#: Longest string value of a metric, in UTF-8 bytes.
MAX_STRING_BYTES = 32 * 1024
#: Longest tag value, in characters.
MAX_TAG_VALUE_CHARS = 5_000
#: Most columns of one row or table metric.
MAX_COLUMNS = 1_000
#: Most points one event carries; a longer list or table travels as several
#: events, never refused for its size alone.
MAX_POINTS_PER_EVENT = 16_384
#: Largest encoded event the SDK builds, in bytes; a metric's points go
#: into several events past it. One row of a table must fit in one event.
MAX_EVENT_BYTES = 512 * 1024
#: Largest Kafka message the producer sends (the broker's default limit).
MAX_MESSAGE_BYTES = 1_000_000
#: Longest error message of a failed run, in characters; longer ones are
#: cut, with a note saying so.
MAX_ERROR_MESSAGE_CHARS = 64 * 1024
