# Shared by format.sh and start.sh (sourced, not run): resolves the broker's
# settings from the environment and renders server.properties.
#
#   RUNSTREAM_KAFKA_DATA_DIR         storage, rendered config and logs/
#                                    (default kafka-data in the cache dir,
#                                    $RUNSTREAM_CACHE_DIR or ~/.cache/runstream)
#   RUNSTREAM_KAFKA_PORT             client listener port (default 9092)
#   RUNSTREAM_KAFKA_CONTROLLER_PORT  controller listener port (default 9093)
#   RUNSTREAM_KAFKA_LIB_DIR          folder of broker jars (default: fetch.sh)
#   RUNSTREAM_KAFKA_HEAP_OPTS        default "-Xms128m -Xmx512m"
#   RUNSTREAM_KAFKA_JVM_OPTS         extra JVM flags, appended last
#
# Both listeners bind 127.0.0.1 only.

kafka_deploy_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

cache_root="${RUNSTREAM_CACHE_DIR:-${HOME}/.cache/runstream}"
data_dir="${RUNSTREAM_KAFKA_DATA_DIR:-${cache_root}/kafka-data}"
client_port="${RUNSTREAM_KAFKA_PORT:-9092}"
controller_port="${RUNSTREAM_KAFKA_CONTROLLER_PORT:-9093}"
heap_opts="${RUNSTREAM_KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"

for port in "${client_port}" "${controller_port}"; do
    if [[ ! "${port}" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
        echo "kafka: port must be a number in 1..65535 (got '${port}')" >&2
        exit 2
    fi
done
if [[ "${client_port}" == "${controller_port}" ]]; then
    echo "kafka: client and controller ports must differ" \
        "(both are ${client_port})" >&2
    exit 2
fi

if [[ -n "${RUNSTREAM_KAFKA_LIB_DIR:-}" ]]; then
    lib_dir="${RUNSTREAM_KAFKA_LIB_DIR}"
else
    lib_dir="$("${kafka_deploy_dir}/fetch.sh")"
fi
if ! compgen -G "${lib_dir}/kafka_2.13-*.jar" >/dev/null; then
    echo "kafka: no kafka_2.13 jar in ${lib_dir}; run fetch.sh" >&2
    exit 2
fi

java_bin="java"
if [[ -n "${JAVA_HOME:-}" ]]; then
    java_bin="${JAVA_HOME}/bin/java"
fi

mkdir -p "${data_dir}/logs"
data_dir="$(cd "${data_dir}" && pwd)"
config_file="${data_dir}/server.properties"
meta_file="${data_dir}/kraft-logs/meta.properties"
# Controller port the storage was formatted with: the standalone voter set
# records it, so the controller cannot move to another port afterwards.
formatted_port_file="${data_dir}/controller-port"

log_opts=(
    "-Dkafka.logs.dir=${data_dir}/logs"
    "-Dlog4j2.configurationFile=${kafka_deploy_dir}/log4j2.properties"
)

render_config() {
    # Escape the characters sed treats specially in a replacement.
    local data_dir_sed
    data_dir_sed="$(printf '%s' "${data_dir}" | sed 's/[\\|&]/\\&/g')"
    sed -e "s|@DATA_DIR@|${data_dir_sed}|g" \
        -e "s|@CLIENT_PORT@|${client_port}|g" \
        -e "s|@CONTROLLER_PORT@|${controller_port}|g" \
        "${kafka_deploy_dir}/server.properties.in" >"${config_file}.tmp"
    mv "${config_file}.tmp" "${config_file}"
}
