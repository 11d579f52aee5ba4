#!/usr/bin/env bash
# Fetch the Kafka broker's jars from Maven Central into a cache folder and
# print that folder on stdout (nothing else goes to stdout).
#
#   deploy/kafka/fetch.sh            -> .../kafka-4.4.0/lib
#
# The cache lives in ${RUNSTREAM_CACHE_DIR:-$HOME/.cache/runstream}. A lib
# folder counts as complete once it holds a stamp with the sha256 of
# pom.xml, so a second run costs no Maven call and editing the pom refetches.
# Jars are copied into a scratch folder first and moved into place in one
# rename, so an interrupted run never leaves a half-filled lib.
# Needs only java and mvn on PATH.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="${here}/pom.xml"

version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "${pom}")"
if [[ -z "${version}" ]]; then
    echo "fetch.sh: no <kafka.version> property in ${pom}" >&2
    exit 1
fi

cache_root="${RUNSTREAM_CACHE_DIR:-${HOME}/.cache/runstream}"
home_dir="${cache_root}/kafka-${version}"
lib_dir="${home_dir}/lib"
stamp="${lib_dir}/.runstream-complete"
pom_sha="$(sha256sum "${pom}" | cut -d' ' -f1)"

if [[ -f "${stamp}" && "$(cat "${stamp}")" == "${pom_sha}" ]]; then
    echo "${lib_dir}"
    exit 0
fi

if ! command -v mvn >/dev/null 2>&1; then
    echo "fetch.sh: mvn is not on PATH; install Maven 3.8+" >&2
    exit 1
fi

mkdir -p "${home_dir}"
# Concurrent runs (parallel CI jobs, test workers) take turns; the one that
# waited then finds the stamp and is done. flock is absent on macOS, where
# the rename below still keeps a finished lib whole.
if command -v flock >/dev/null 2>&1; then
    exec 9>"${home_dir}/.fetch.lock"
    flock 9
    if [[ -f "${stamp}" && "$(cat "${stamp}")" == "${pom_sha}" ]]; then
        echo "${lib_dir}"
        exit 0
    fi
fi

scratch="${home_dir}/lib.partial.$$"
rm -rf "${scratch}"
mkdir "${scratch}"
trap 'rm -rf "${scratch}"' EXIT

echo "fetch.sh: fetching Kafka ${version} jars into ${lib_dir}" >&2
# Maven writes its progress to stdout; keep stdout for the answer alone.
mvn -q -B -Dstyle.color=never -f "${pom}" \
    dependency:copy-dependencies -DoutputDirectory="${scratch}" >&2

if ! compgen -G "${scratch}/kafka_2.13-${version}.jar" >/dev/null; then
    echo "fetch.sh: Maven finished without kafka_2.13-${version}.jar" >&2
    exit 1
fi
chmod 755 "${scratch}"
echo "${pom_sha}" >"${scratch}/.runstream-complete"

# Swap the finished folder in; a stale lib (older pom) moves aside first.
if [[ -d "${lib_dir}" ]]; then
    stale="${home_dir}/lib.stale.$$"
    rm -rf "${stale}"
    mv "${lib_dir}" "${stale}"
    rm -rf "${stale}"
fi
mv "${scratch}" "${lib_dir}"
trap - EXIT

echo "${lib_dir}"
