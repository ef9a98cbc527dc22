#!/bin/sh
# kisgen: Ignition fetched this node's config from {{.Where}} with the instance role
# during the first boot. Delete it there so it does not stay readable. Run once by
# kisgen-delete-ignition-config.service.
set -u
imds={{.IMDS}}
object={{.Object}}
region={{.Region}}
empty=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

field() { printf '%s\n' "$creds" | sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | head -n 1; }

delete() {
	token=$(curl -fsS -m 30 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$imds/latest/api/token") || return 1
	role=$(curl -fsS -m 30 -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/iam/security-credentials/" | head -n 1)
	[ -n "$role" ] || return 1
	creds=$(curl -fsS -m 30 -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/iam/security-credentials/$role") || return 1
	ak=$(field AccessKeyId) sk=$(field SecretAccessKey) st=$(field Token)
	[ -n "$ak" ] && [ -n "$sk" ] && [ -n "$st" ] || return 1
	curl -fsS -m 30 -X DELETE --aws-sigv4 "aws:amz:$region:s3" --user "$ak:$sk" \
		-H "x-amz-security-token: $st" -H "x-amz-content-sha256: $empty" "$object"
}

tries=0
until delete; do
	tries=$((tries + 1))
	if [ "$tries" -ge "${KISGEN_TRIES:-30}" ]; then
		echo "kisgen: could not delete $object" >&2
		exit 1
	fi
	sleep "${KISGEN_RETRY_SECONDS:-10}"
done
echo "kisgen: deleted $object"
