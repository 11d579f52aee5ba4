"""runstream's stated limits, enforced by the SDK at call time and checked
again by the consumer. docs/limits.md lists the same numbers.
"""

from __future__ import annotations

#: Longest metric, tag, column or artifact-folder name, in characters.
MAX_NAME_CHARS = 255
#: Longest string value of a metric, in UTF-8 bytes.
MAX_STRING_BYTES = 32 * 1024
#: Longest tag value, in characters.
MAX_TAG_VALUE_CHARS = 5_000
#: Most columns of one row or table metric.
MAX_COLUMNS = 1_000
#: Most points one event carries; a longer list or table travels as several
#: events, never refused for its size alone.
MAX_POINTS_PER_EVENT = 16_384
#: Largest Kafka message the SDK builds, in bytes.
MAX_MESSAGE_BYTES = 1_000_000
