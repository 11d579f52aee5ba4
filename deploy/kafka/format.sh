#!/usr/bin/env bash
# Format the KRaft storage of the single-node broker once: a fresh cluster id
# and a standalone controller quorum of this one node. A data dir that is
# already formatted is left untouched, so running this again is harmless.
# Settings come from the environment; see env.sh.
set -euo pipefail

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/env.sh"

if [[ -f "${meta_file}" ]]; then
    echo "kafka: ${data_dir} is already formatted" >&2
    exit 0
fi

# A Kafka cluster id is 16 random bytes in unpadded URL-safe base64. Made
# here rather than by "StorageTool random-uuid", which costs a JVM start;
# like Kafka, refuse an id that starts with "-" (it reads as a CLI flag).
cluster_id="-"
while [[ "${cluster_id}" == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_')"
    cluster_id="${cluster_id%%=*}"
done

render_config
"${java_bin}" -Xmx256m "${log_opts[@]}" -Dkafka.log.file=storage-tool.log \
    -cp "${lib_dir}/*" kafka.tools.StorageTool format \
    --config "${config_file}" --cluster-id "${cluster_id}" --standalone >&2
echo "${controller_port}" >"${formatted_port_file}"
echo "kafka: formatted ${data_dir} (cluster ${cluster_id})" >&2
