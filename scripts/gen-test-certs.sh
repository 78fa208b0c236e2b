#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Generate throwaway TLS material for tests into OUTDIR (ECDSA P-256, 2 days):
#   ca.crt ca.key                      test CA
#   server.crt server.key              localhost, dragonfly.test, IP 127.0.0.1
#   other.crt other.key                other.test only (hostname-mismatch tests)
#   client.crt client.key              client certificate (clientAuth)
#   rogue-ca.crt rogue.crt rogue.key   a second CA and a localhost cert it signed
# Never commit the output.
set -eu
out=${1:?usage: gen-test-certs.sh OUTDIR}
mkdir -p "$out"
cd "$out"

key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
}

ca() { # ca NAME CN
	key "$1"
	openssl req -x509 -new -key "$1.key" -sha256 -days 2 -subj "/CN=$2" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign -out "$1.crt" 2>/dev/null
}

leaf() { # leaf NAME CN CA EXT...
	name=$1 cn=$2 issuer=$3
	shift 3
	key "$name"
	openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr" 2>/dev/null
	: >"$name.ext"
	for e in "$@"; do echo "$e" >>"$name.ext"; done
	openssl x509 -req -in "$name.csr" -CA "$issuer.crt" -CAkey "$issuer.key" \
		-CAcreateserial -sha256 -days 2 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
	rm -f "$name.csr" "$name.ext"
}

ca ca "dragonfly test CA"
ca rogue-ca "dragonfly rogue CA"
leaf server localhost ca "subjectAltName=DNS:localhost,DNS:dragonfly.test,IP:127.0.0.1" \
	"extendedKeyUsage=serverAuth" "keyUsage=critical,digitalSignature"
leaf other other.test ca "subjectAltName=DNS:other.test" \
	"extendedKeyUsage=serverAuth" "keyUsage=critical,digitalSignature"
leaf client dragonfly-client ca "extendedKeyUsage=clientAuth" \
	"keyUsage=critical,digitalSignature"
leaf rogue localhost rogue-ca "subjectAltName=DNS:localhost" \
	"extendedKeyUsage=serverAuth" "keyUsage=critical,digitalSignature"
rm -f ./*.srl
chmod 600 ./*.key
