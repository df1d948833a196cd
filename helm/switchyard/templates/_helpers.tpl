{{/*
Names, labels, image and the checks of the values. The per-service objects are in _service.tpl,
the TOML rendering of the configuration in _config.tpl.
*/}}

{{/*
The services of the chart, space-separated, in the order they are rendered: every top-level
values block with `service.grpcPort` (one per service of the registry, services/registry), by
gRPC port, then name. Adding a service to the chart is adding its values block.
*/}}
{{- define "switchyard.services" -}}
{{- $keyed := list }}
{{- range $name, $block := .Values }}
{{- if kindIs "map" $block }}
{{- if kindIs "map" $block.service }}
{{- if hasKey $block.service "grpcPort" }}
{{- $keyed = append $keyed (printf "%05d/%s" (int $block.service.grpcPort) $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- $names := list }}
{{- range sortAlpha $keyed }}
{{- $names = append $names (last (splitList "/" .)) }}
{{- end }}
{{- join " " $names }}
{{- end }}

{{- define "switchyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-switchyard, or the release name when it already holds the chart name. */}}
{{- define "switchyard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of a service's objects: (dict "root" $ "name" "router") -> <fullname>-router */}}
{{- define "switchyard.componentName" -}}
{{- printf "%s-%s" (include "switchyard.fullname" .root | trunc 50 | trimSuffix "-") .name }}
{{- end }}

{{- define "switchyard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchyard.labels" -}}
helm.sh/chart: {{ include "switchyard.chart" . }}
{{ include "switchyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchyard
{{- end }}

{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of a service's objects: (dict "root" $ "name" "router") */}}
{{- define "switchyard.componentLabels" -}}
{{ include "switchyard.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "switchyard.componentSelectorLabels" -}}
{{ include "switchyard.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "switchyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchyard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "switchyard.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion | toString }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Where the ConfigMap is mounted and the file every container is started with. */}}
{{- define "switchyard.configDir" -}}/etc/switchyard{{- end }}
{{- define "switchyard.configFile" -}}/etc/switchyard/switchyard.toml{{- end }}

{{/*
TLS on the gRPC port: the Secret holding tls.crt, tls.key and ca.crt (tls.existingSecret, or the
one of the cert-manager Certificate), empty when TLS is off; where it is mounted.
*/}}
{{- define "switchyard.tlsSecret" -}}
{{- if .Values.tls.existingSecret }}
{{- .Values.tls.existingSecret }}
{{- else if .Values.tls.certManager.enabled }}
{{- include "switchyard.fullname" . | trunc 54 | trimSuffix "-" }}-grpc-tls
{{- end }}
{{- end }}
{{- define "switchyard.tlsDir" -}}/etc/switchyard-tls{{- end }}

{{/*
The environment that carries the credentials from existing Secrets. Helper variables do not
start with SWITCHYARD_: the binary reads every SWITCHYARD_* variable as configuration and
rejects unknown keys.
*/}}
{{- define "switchyard.credentialsEnv" -}}
{{- $kafka := .Values.kafka }}
{{- if $kafka.existingSecret }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $kafka.existingSecret | quote }}
      key: {{ $kafka.secretKeys.username | quote }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $kafka.existingSecret | quote }}
      key: {{ $kafka.secretKeys.password | quote }}
{{- /* A dict in figment's syntax, merged over [kafka.settings] of the file. */}}
- name: SWITCHYARD_KAFKA__SETTINGS
  value: '{"sasl.username"="$(KAFKA_SASL_USERNAME)","sasl.password"="$(KAFKA_SASL_PASSWORD)"}'
{{- end }}
{{- $redis := .Values.redis }}
{{- if $redis.existingSecret }}
{{- if $redis.secretKeys.password }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $redis.existingSecret | quote }}
      key: {{ $redis.secretKeys.password | quote }}
- name: SWITCHYARD_REDIS__URL
  value: {{ regexReplaceAll "^(rediss?://)" $redis.url "${1}:$(REDIS_PASSWORD)@" | quote }}
{{- else }}
- name: SWITCHYARD_REDIS__URL
  valueFrom:
    secretKeyRef:
      name: {{ $redis.existingSecret | quote }}
      key: {{ $redis.secretKeys.url | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Checks of the values, with a message naming the key and the fix. Included by the ConfigMap,
which every release renders.
*/}}
{{- define "switchyard.validate" -}}
{{- $v := .Values }}
{{- if not $v.kafka.bootstrapServers }}
{{- fail "kafka.bootstrapServers is required: the Kafka bootstrap servers as host:port[,host:port...] (e.g. --set kafka.bootstrapServers=kafka:9092)" }}
{{- end }}
{{- range $server := splitList "," ($v.kafka.bootstrapServers | toString) }}
{{- if not (regexMatch "^\\S+:[0-9]+$" (trim $server)) }}
{{- fail (printf "kafka.bootstrapServers must be host:port[,host:port...], got %q" $v.kafka.bootstrapServers) }}
{{- end }}
{{- end }}
{{- if and (not $v.redis.url) (not $v.redis.existingSecret) }}
{{- fail "Redis is required: set redis.url (redis://host:6379, without a password) or redis.existingSecret with the key redis.secretKeys.url holding the full URL" }}
{{- end }}
{{- if $v.redis.url }}
{{- if not (regexMatch "^rediss?://" $v.redis.url) }}
{{- fail (printf "redis.url must start with redis:// or rediss://, got %q" $v.redis.url) }}
{{- end }}
{{- if contains "@" $v.redis.url }}
{{- fail "redis.url must not carry credentials: put the password in a Secret and set redis.existingSecret with redis.secretKeys.password (or redis.secretKeys.url for the full URL)" }}
{{- end }}
{{- end }}
{{- if and $v.redis.existingSecret $v.redis.secretKeys.password (not $v.redis.url) }}
{{- fail "redis.secretKeys.password needs redis.url (redis://host:6379): the password is inserted into it" }}
{{- end }}
{{- if and $v.redis.existingSecret (not $v.redis.secretKeys.password) (not $v.redis.secretKeys.url) }}
{{- fail "redis.existingSecret needs redis.secretKeys.url (key of the full URL) or redis.secretKeys.password (key of the password)" }}
{{- end }}
{{- if $v.kafka.existingSecret }}
{{- $protocol := get $v.kafka.settings "security.protocol" | default "" | toString | upper }}
{{- if not (hasPrefix "SASL_" $protocol) }}
{{- fail "kafka.existingSecret holds SASL credentials: set kafka.settings.\"security.protocol\" to SASL_SSL or SASL_PLAINTEXT (and \"sasl.mechanism\")" }}
{{- end }}
{{- if or (not $v.kafka.secretKeys.username) (not $v.kafka.secretKeys.password) }}
{{- fail "kafka.existingSecret needs kafka.secretKeys.username and kafka.secretKeys.password" }}
{{- end }}
{{- end }}
{{- range $key := list "sasl.username" "sasl.password" }}
{{- if hasKey $v.kafka.settings $key }}
{{- fail (printf "kafka.settings.%q must not be in values: put the credentials in a Secret and set kafka.existingSecret" $key) }}
{{- end }}
{{- end }}
{{- $tls := $v.tls }}
{{- if and $tls.existingSecret $tls.certManager.enabled }}
{{- fail "tls.existingSecret and tls.certManager.enabled exclude each other: mount your own Secret or let cert-manager issue one" }}
{{- end }}
{{- if and $tls.certManager.enabled (not ($tls.certManager.issuerRef | default dict).name) }}
{{- fail "tls.certManager.issuerRef.name is required with tls.certManager.enabled: the Issuer or ClusterIssuer that signs the certificate (e.g. {name: switchyard-ca, kind: ClusterIssuer})" }}
{{- end }}
{{- if and (ne $tls.clientAuth "none") (not (include "switchyard.tlsSecret" .)) }}
{{- fail (printf "tls.clientAuth %s needs TLS: set tls.existingSecret (with tls.crt, tls.key and ca.crt) or tls.certManager.enabled" $tls.clientAuth) }}
{{- end }}
{{- /* Keys of `config` the chart sets from other values. */}}
{{- $reserved := dict "instance_id" "(set per pod to the pod name)" }}
{{- $_ := set $reserved "kafka.bootstrap_servers" "kafka.bootstrapServers" }}
{{- $_ := set $reserved "kafka.topic_prefix" "kafka.topicPrefix" }}
{{- $_ := set $reserved "kafka.partitions" "kafka.partitions" }}
{{- $_ := set $reserved "kafka.replication_factor" "kafka.replicationFactor" }}
{{- $_ := set $reserved "kafka.settings" "kafka.settings" }}
{{- $_ := set $reserved "redis.url" "redis.url or redis.existingSecret" }}
{{- $_ := set $reserved "tls" "tls.existingSecret or tls.certManager, and tls.clientAuth" }}
{{- range $name := splitList " " (include "switchyard.services" .) }}
{{- $_ := set $reserved (printf "%s.grpc_addr" $name) "containerPorts.grpc" }}
{{- $_ := set $reserved (printf "%s.ops_addr" $name) "containerPorts.ops" }}
{{- end }}
{{- range $path, $instead := $reserved }}
{{- $parts := splitList "." $path }}
{{- $section := index $v.config (first $parts) | default dict }}
{{- if or (and (eq (len $parts) 1) (hasKey $v.config $path)) (and (eq (len $parts) 2) (kindIs "map" $section) (hasKey $section (last $parts))) }}
{{- fail (printf "config.%s is set by the chart: use %s instead" $path $instead) }}
{{- end }}
{{- end }}
{{- $enabled := 0 }}
{{- range $name := splitList " " (include "switchyard.services" .) }}
{{- $svc := index $v $name }}
{{- if $svc.enabled }}
{{- $enabled = add1 $enabled }}
{{- end }}
{{- if and $svc.autoscaling.enabled $svc.autoscaling.keda.enabled }}
{{- fail (printf "%s: autoscaling.enabled and autoscaling.keda.enabled cannot both be true (a KEDA ScaledObject manages its own HorizontalPodAutoscaler); enable one of them" $name) }}
{{- end }}
{{- if or $svc.autoscaling.enabled $svc.autoscaling.keda.enabled }}
{{- if gt (int $svc.autoscaling.minReplicas) (int $svc.autoscaling.maxReplicas) }}
{{- fail (printf "%s: autoscaling.minReplicas (%v) is above autoscaling.maxReplicas (%v)" $name $svc.autoscaling.minReplicas $svc.autoscaling.maxReplicas) }}
{{- end }}
{{- end }}
{{- if and $svc.autoscaling.keda.enabled (not $svc.autoscaling.keda.consumerGroup) }}
{{- fail (printf "%s: autoscaling.keda.consumerGroup is required for Kafka-lag scaling" $name) }}
{{- end }}
{{- with $svc.podDisruptionBudget }}
{{- if and (hasKey . "minAvailable") (hasKey . "maxUnavailable") }}
{{- fail (printf "%s: podDisruptionBudget takes minAvailable or maxUnavailable, not both" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq $enabled 0 }}
{{- fail (printf "every service is disabled: enable at least one of %s" (include "switchyard.services" . | splitList " " | join ", ")) }}
{{- end }}
{{- end }}
