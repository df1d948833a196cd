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
{{- $kafka := dict
  "bootstrap_servers" ($v.kafka.bootstrapServers | toString)
  "topic_prefix" ($v.kafka.topicPrefix | toString)
  "partitions" (int64 $v.kafka.partitions)
  "replication_factor" (int64 $v.kafka.replicationFactor)
  "settings" $settings }}
{{- $config := dict "kafka" $kafka "telemetry" (dict "log_format" "json") }}
{{- if not $v.redis.existingSecret }}
{{- $_ := set $config "redis" (dict "url" $v.redis.url) }}
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
{{- $config = mustMergeOverwrite $config (deepCopy ($v.config | default dict)) }}
{{- toJson $config }}
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
{{- else }}{{ fail (printf "config: %s = %v cannot be written as TOML (null or a list of tables)" .key $value) }}
{{- end }}
{{- end }}
