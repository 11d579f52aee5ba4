#!/usr/bin/env bash
# Run the single-node KRaft broker (broker and controller in one JVM) in the
# foreground: the script execs java, so whoever started it owns the broker's
# pid and stops it with SIGTERM. Formats the storage first if needed.
# Settings come from the environment; see env.sh. The broker's own log is
# ${RUNSTREAM_KAFKA_DATA_DIR}/logs/server.log.
set -euo pipefail

deploy_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${deploy_dir}/env.sh"

if [[ ! -f "${meta_file}" ]]; then
    RUNSTREAM_KAFKA_LIB_DIR="${lib_dir}" "${deploy_dir}/format.sh"
fi

if [[ -f "${formatted_port_file}" ]]; then
    formatted_port="$(cat "${formatted_port_file}")"
    if [[ "${formatted_port}" != "${controller_port}" ]]; then
        echo "kafka: ${data_dir} was formatted for controller port" \
            "${formatted_port}, not ${controller_port}; start with" \
            "RUNSTREAM_KAFKA_CONTROLLER_PORT=${formatted_port}" >&2
        exit 2
    fi
fi

render_config
read -r -a heap <<<"${heap_opts}"
read -r -a extra <<<"${RUNSTREAM_KAFKA_JVM_OPTS:-}"

exec "${java_bin}" "${heap[@]}" \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    "${log_opts[@]}" "${extra[@]}" \
    -cp "${lib_dir}/*" kafka.Kafka "${config_file}"
