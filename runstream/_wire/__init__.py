"""What the producer and the consumer share: the Avro contract and topics.

Neither side restates the schema in Python; both load the ``.avsc`` files
from ``schemas/`` and agree on the single-object encoding below.
"""
