{{/*
The switchyard.toml every container reads (`--config`): the keys the chart owns (Kafka, Redis
without credentials, listen addresses, JSON logs) with `config` merged over them. Helm reads
every number of the values as a float, and switchyard rejects 12.0 where it wants an integer,
so the TOML is written here rather than with toToml: whole numbers are written as integers
(a float key such as router.headroom takes an integer too).
*/}}

{{- define "switchyard.configData" -}}
{{- $v := .Values }}
{{- $settings := dict }}
{{- range $key, $value := $v.kafka.settings }}
{{- $_ := set $settings $key ($value | toString) }}
{{- end }}
{{- if $v.kafka.tls.existingSecret }}
{{- $dir := include "switchyard.kafkaTlsDir" . }}
{{- $_ := set $settings "ssl.ca.location" (printf "%s/ca.crt" $dir) }}
{{- if $v.kafka.tls.secretKeys.cert }}
{{- $_ := set $settings "ssl.certificate.location" (printf "%s/tls.crt" $dir) }}
{{- $_ := set $settings "ssl.key.location" (printf "%s/tls.key" $dir) }}
{{- end }}
{{- end }}
{{- $kafka := dict
  "bootstrap_servers" ($v.kafka.bootstrapServers | toString)
  "topic_prefix" ($v.kafka.topicPrefix | toString)
  "partitions" (int64 $v.kafka.partitions)
  "replication_factor" (int64 $v.kafka.replicationFactor)
  "settings" $settings }}
{{- if $v.kafka.existingSecret }}
{{- $dir := include "switchyard.kafkaSecretDir" . }}
{{- $_ := set $kafka "settings_from_files" (dict "sasl.username" (printf "%s/sasl-username" $dir) "sasl.password" (printf "%s/sasl-password" $dir)) }}
{{- end }}
{{- $config := dict "kafka" $kafka "telemetry" (dict "log_format" "json") }}
{{- $redis := dict }}
{{- if or (not $v.redis.existingSecret) $v.redis.secretKeys.password }}
{{- $_ := set $redis "url" $v.redis.url }}
{{- end }}
{{- if and $v.redis.existingSecret $v.redis.secretKeys.password }}
{{- $_ := set $redis "password_file" (printf "%s/password" (include "switchyard.redisSecretDir" .)) }}
{{- end }}
{{- with $v.redis.username }}
{{- $_ := set $redis "username" . }}
{{- end }}
{{- if $v.redis.tls.existingSecret }}
{{- $dir := include "switchyard.redisTlsDir" . }}
{{- $_ := set $redis "tls_ca_file" (printf "%s/ca.crt" $dir) }}
{{- if $v.redis.tls.secretKeys.cert }}
{{- $_ := set $redis "tls_cert_file" (printf "%s/tls.crt" $dir) }}
{{- $_ := set $redis "tls_key_file" (printf "%s/tls.key" $dir) }}
{{- end }}
{{- end }}
{{- if $redis }}
{{- $_ := set $config "redis" $redis }}
{{- end }}
{{- if include "switchyard.tlsSecret" . }}
{{- $dir := include "switchyard.tlsDir" . }}
{{- $tls := dict "cert_file" (printf "%s/tls.crt" $dir) "key_file" (printf "%s/tls.key" $dir) "client_auth" $v.tls.clientAuth }}
{{- if ne $v.tls.clientAuth "none" }}
{{- $_ := set $tls "client_ca_file" (printf "%s/ca.crt" $dir) }}
{{- end }}
{{- $_ := set $config "tls" $tls }}
{{- end }}
{{- range $name := splitList " " (include "switchyard.services" .) }}
{{- $_ := set $config $name (dict
  "grpc_addr" (printf "0.0.0.0:%d" (int $v.containerPorts.grpc))
  "ops_addr" (printf "0.0.0.0:%d" (int $v.containerPorts.ops))) }}
{{- end }}
{{- $_ := set $config "auth" (include "switchyard.authConfig" . | fromJson) }}
{{- $l := $v.limits }}
{{- $_ := set $config "limits" (dict
  "requests_per_second_per_account" (int64 $l.requestsPerSecondPerAccount)
  "requests_per_second_per_credential" (int64 $l.requestsPerSecondPerCredential)
  "max_message_bytes" (int64 $l.maxMessageBytes)
  "streams_per_agent" (int64 $l.streamsPerAgent)
  "streams_per_partner_channel" (int64 $l.streamsPerPartnerChannel)
  "opens_per_consumer_per_minute" (int64 $l.opensPerConsumerPerMinute)) }}
{{- $config = mustMergeOverwrite $config (deepCopy ($v.config | default dict)) }}
{{- toJson $config }}
{{- end }}

{{/*
`[auth]` from the auth values, as JSON: the issuers' key files where their Secrets are mounted
(switchyard.authVolumes), the signing key when a signing Secret is given.
*/}}
{{- define "switchyard.authConfig" -}}
{{- $a := .Values.auth }}
{{- $dir := include "switchyard.authDir" . }}
{{- $auth := dict "mode" $a.mode }}
{{- if eq $a.mode "required" }}
{{- $issuers := list }}
{{- range $i, $is := $a.issuers }}
{{- $entry := dict "issuer" $is.issuer "audience" ($is.audience | default "switchyard") "algorithm" ($is.algorithm | default "HS256") "leeway" ($is.leeway | default "30s") }}
{{- if $is.jwksKey }}
{{- $_ := set $entry "jwks_file" (printf "%s/issuers/%d/jwks.json" $dir (int $i)) }}
{{- else }}
{{- $_ := set $entry "key_file" (printf "%s/issuers/%d/key" $dir (int $i)) }}
{{- end }}
{{- $issuers = append $issuers $entry }}
{{- end }}
{{- $_ := set $auth "issuers" $issuers }}
{{- end }}
{{- if $a.signing.existingSecret }}
{{- $_ := set $auth "signing" (dict "issuer" $a.signing.issuer "audience" $a.signing.audience "algorithm" $a.signing.algorithm "key_file" (printf "%s/signing/key" $dir)) }}
{{- end }}
{{- toJson $auth }}
{{- end }}

{{/* The TOML text of the configuration. */}}
{{- define "switchyard.configToml" -}}
# switchyard.toml, rendered by the switchyard chart from the values kafka, redis, containerPorts,
# tls and config. Environment variables SWITCHYARD_<SECTION>__<KEY> override it (credentials).
{{- include "switchyard.tomlTable" (dict "path" list "table" (include "switchyard.configData" . | fromJson)) }}
{{- end }}

{{/* One table: its scalar keys, then its sub-tables. (dict "path" (list ...) "table" map) */}}
{{- define "switchyard.tomlTable" -}}
{{- $path := .path }}
{{- range $key, $value := .table }}
{{- if not (kindIs "map" $value) }}
{{ include "switchyard.tomlKey" $key }} = {{ include "switchyard.tomlValue" (dict "key" $key "value" $value) }}
{{- end }}
{{- end }}
{{- range $key, $value := .table }}
{{- if kindIs "map" $value }}
{{- $sub := append $path (include "switchyard.tomlKey" $key) }}

[{{ join "." $sub }}]
{{- include "switchyard.tomlTable" (dict "path" $sub "table" $value) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "switchyard.tomlKey" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}

{{/* A scalar or an array of scalars: (dict "key" name "value" v) */}}
{{- define "switchyard.tomlValue" -}}
{{- $value := .value }}
{{- if kindIs "string" $value }}{{ toJson $value }}
{{- else if kindIs "bool" $value }}{{ $value }}
{{- else if or (kindIs "float64" $value) (kindIs "float32" $value) }}
{{- if eq (float64 (int64 $value)) (float64 $value) }}{{ int64 $value }}{{ else }}{{ $value }}{{ end }}
{{- else if or (kindIs "int" $value) (kindIs "int64" $value) (kindIs "int32" $value) (kindIs "uint64" $value) }}{{ $value }}
{{- else if kindIs "slice" $value }}[{{ range $i, $item := $value }}{{ if $i }}, {{ end }}{{ include "switchyard.tomlValue" (dict "key" $.key "value" $item) }}{{ end }}]
{{- else if kindIs "map" $value }}{ {{ $first := true }}{{ range $k, $item := $value }}{{ if not $first }}, {{ end }}{{ $first = false }}{{ include "switchyard.tomlKey" $k }} = {{ include "switchyard.tomlValue" (dict "key" $k "value" $item) }}{{ end }} }
{{- else }}{{ fail (printf "config: %s = %v cannot be written as TOML (null)" .key $value) }}
{{- end }}
{{- end }}
