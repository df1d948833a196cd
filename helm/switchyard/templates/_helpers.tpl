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

{{/* Where the auth Secrets are mounted (read-only): issuers/<index>/, signing/. */}}
{{- define "switchyard.authDir" -}}/etc/switchyard/auth{{- end }}

{{/* The volumeMounts of the auth Secrets (a list, indented by the caller). */}}
{{- define "switchyard.authVolumeMounts" -}}
{{- $dir := include "switchyard.authDir" . }}
{{- if eq .Values.auth.mode "required" }}
{{- range $i, $is := .Values.auth.issuers }}
- name: auth-issuer-{{ $i }}
  mountPath: {{ $dir }}/issuers/{{ $i }}
  readOnly: true
{{- end }}
{{- end }}
{{- if .Values.auth.signing.existingSecret }}
- name: auth-signing
  mountPath: {{ $dir }}/signing
  readOnly: true
{{- end }}
{{- end }}

{{/* The volumes of the auth Secrets: only the named key of each, readable by the pod's group. */}}
{{- define "switchyard.authVolumes" -}}
{{- if eq .Values.auth.mode "required" }}
{{- range $i, $is := .Values.auth.issuers }}
- name: auth-issuer-{{ $i }}
  secret:
    secretName: {{ $is.existingSecret | quote }}
    defaultMode: 288 # 0440: the pod's group (fsGroup) reads it
    items:
      - key: {{ $is.jwksKey | default $is.key | quote }}
        path: {{ if $is.jwksKey }}jwks.json{{ else }}key{{ end }}
{{- end }}
{{- end }}
{{- if .Values.auth.signing.existingSecret }}
- name: auth-signing
  secret:
    secretName: {{ .Values.auth.signing.existingSecret | quote }}
    defaultMode: 288 # 0440: the pod's group (fsGroup) reads it
    items:
      - key: {{ .Values.auth.signing.key | quote }}
        path: key
{{- end }}
{{- end }}

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
The environment that carries credentials: only a full Redis URL from a Secret. Every other
secret (SASL username and password, the Redis password, certificates and keys) is a file of a
mounted Secret (switchyard.secretVolumes), named by the TOML (`kafka.settings_from_files`,
`redis.password_file`, `ssl.*.location`, `redis.tls_*_file`).
*/}}
{{- define "switchyard.credentialsEnv" -}}
{{- $redis := .Values.redis }}
{{- if and $redis.existingSecret (not $redis.secretKeys.password) }}
- name: SWITCHYARD_REDIS__URL
  valueFrom:
    secretKeyRef:
      name: {{ $redis.existingSecret | quote }}
      key: {{ $redis.secretKeys.url | quote }}
{{- end }}
{{- end }}

{{/* Where the Secrets are mounted. */}}
{{- define "switchyard.kafkaSecretDir" -}}/etc/switchyard/secrets/kafka{{- end }}
{{- define "switchyard.redisSecretDir" -}}/etc/switchyard/secrets/redis{{- end }}
{{- define "switchyard.kafkaTlsDir" -}}/etc/switchyard/tls/kafka{{- end }}
{{- define "switchyard.redisTlsDir" -}}/etc/switchyard/tls/redis{{- end }}

{{/* The volumes of the Secrets, each key a file (mode 0400). */}}
{{- define "switchyard.secretVolumes" -}}
{{- $v := .Values }}
{{- if $v.kafka.existingSecret }}
- name: kafka-credentials
  secret:
    secretName: {{ $v.kafka.existingSecret | quote }}
    defaultMode: 0400
    items:
      - key: {{ $v.kafka.secretKeys.username | quote }}
        path: sasl-username
      - key: {{ $v.kafka.secretKeys.password | quote }}
        path: sasl-password
{{- end }}
{{- if $v.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ $v.kafka.tls.existingSecret | quote }}
    defaultMode: 0400
    items:
      - key: {{ $v.kafka.tls.secretKeys.ca | quote }}
        path: ca.crt
      {{- if $v.kafka.tls.secretKeys.cert }}
      - key: {{ $v.kafka.tls.secretKeys.cert | quote }}
        path: tls.crt
      - key: {{ $v.kafka.tls.secretKeys.key | quote }}
        path: tls.key
      {{- end }}
{{- end }}
{{- if and $v.redis.existingSecret $v.redis.secretKeys.password }}
- name: redis-credentials
  secret:
    secretName: {{ $v.redis.existingSecret | quote }}
    defaultMode: 0400
    items:
      - key: {{ $v.redis.secretKeys.password | quote }}
        path: password
{{- end }}
{{- if $v.redis.tls.existingSecret }}
- name: redis-tls
  secret:
    secretName: {{ $v.redis.tls.existingSecret | quote }}
    defaultMode: 0400
    items:
      - key: {{ $v.redis.tls.secretKeys.ca | quote }}
        path: ca.crt
      {{- if $v.redis.tls.secretKeys.cert }}
      - key: {{ $v.redis.tls.secretKeys.cert | quote }}
        path: tls.crt
      - key: {{ $v.redis.tls.secretKeys.key | quote }}
        path: tls.key
      {{- end }}
{{- end }}
{{- end }}

{{/* The mounts of switchyard.secretVolumes. */}}
{{- define "switchyard.secretVolumeMounts" -}}
{{- $v := .Values }}
{{- if $v.kafka.existingSecret }}
- name: kafka-credentials
  mountPath: {{ include "switchyard.kafkaSecretDir" . }}
  readOnly: true
{{- end }}
{{- if $v.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: {{ include "switchyard.kafkaTlsDir" . }}
  readOnly: true
{{- end }}
{{- if and $v.redis.existingSecret $v.redis.secretKeys.password }}
- name: redis-credentials
  mountPath: {{ include "switchyard.redisSecretDir" . }}
  readOnly: true
{{- end }}
{{- if $v.redis.tls.existingSecret }}
- name: redis-tls
  mountPath: {{ include "switchyard.redisTlsDir" . }}
  readOnly: true
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
{{- range $key := list "sasl.username" "sasl.password" "ssl.key.password" "ssl.keystore.password" "ssl.key.pem" "sasl.oauthbearer.client.secret" }}
{{- if hasKey $v.kafka.settings $key }}
{{- fail (printf "kafka.settings.%q must not be in values: put the credentials in a Secret and set kafka.existingSecret" $key) }}
{{- end }}
{{- end }}
{{- range $name, $tls := dict "kafka.tls" $v.kafka.tls "redis.tls" $v.redis.tls }}
{{- if and $tls.existingSecret (not $tls.secretKeys.ca) }}
{{- fail (printf "%s.existingSecret needs %s.secretKeys.ca (key of the CA certificate)" $name $name) }}
{{- end }}
{{- if ne (empty $tls.secretKeys.cert) (empty $tls.secretKeys.key) }}
{{- fail (printf "%s.secretKeys.cert and %s.secretKeys.key go together: set both or neither" $name $name) }}
{{- end }}
{{- end }}
{{- if and $v.redis.tls.existingSecret $v.redis.url (not (hasPrefix "rediss://" $v.redis.url)) }}
{{- fail "redis.tls.existingSecret needs a rediss:// redis.url" }}
{{- end }}
{{- if and $v.redis.username (not (and $v.redis.existingSecret $v.redis.secretKeys.password)) }}
{{- fail "redis.username needs its password: redis.existingSecret with redis.secretKeys.password" }}
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
{{- $_ := set $reserved "kafka.settings_from_files" "kafka.existingSecret" }}
{{- $_ := set $reserved "redis.username" "redis.username" }}
{{- $_ := set $reserved "redis.password" "redis.existingSecret" }}
{{- $_ := set $reserved "redis.password_file" "redis.existingSecret" }}
{{- $_ := set $reserved "redis.tls_ca_file" "redis.tls.existingSecret" }}
{{- $_ := set $reserved "redis.tls_cert_file" "redis.tls.existingSecret" }}
{{- $_ := set $reserved "redis.tls_key_file" "redis.tls.existingSecret" }}
{{- $_ := set $reserved "tls" "tls.existingSecret or tls.certManager, and tls.clientAuth" }}
{{- range $name := splitList " " (include "switchyard.services" .) }}
{{- $_ := set $reserved (printf "%s.grpc_addr" $name) "containerPorts.grpc" }}
{{- $_ := set $reserved (printf "%s.ops_addr" $name) "containerPorts.ops" }}
{{- end }}
{{- $_ := set $reserved "auth.mode" "auth.mode" }}
{{- $_ := set $reserved "auth.issuers" "auth.issuers" }}
{{- $_ := set $reserved "auth.signing" "auth.signing" }}
{{- range $key, $name := dict "requests_per_second_per_account" "requestsPerSecondPerAccount" "requests_per_second_per_credential" "requestsPerSecondPerCredential" "max_message_bytes" "maxMessageBytes" "streams_per_agent" "streamsPerAgent" "streams_per_partner_channel" "streamsPerPartnerChannel" "opens_per_consumer_per_minute" "opensPerConsumerPerMinute" }}
{{- $_ := set $reserved (printf "limits.%s" $key) (printf "limits.%s" $name) }}
{{- end }}
{{- $a := $v.auth }}
{{- if and (eq $a.mode "disabled") (not $a.allowDisabled) }}
{{- fail "auth.mode disabled lets anyone who reaches a gRPC port do anything: set auth.allowDisabled=true as well if that is what you want" }}
{{- end }}
{{- if and (eq $a.mode "required") (not $a.issuers) }}
{{- fail "auth.issuers is required: the issuers whose tokens the services accept, each with its key in an existing Secret (e.g. auth.issuers[0]: {issuer: switchyard, existingSecret: switchyard-signing, key: signing.key}); see the chart README, Authentication" }}
{{- end }}
{{- $names := list }}
{{- range $i, $is := $a.issuers }}
{{- if eq (not $is.key) (not $is.jwksKey) }}
{{- fail (printf "auth.issuers[%d]: set exactly one of key (a shared secret or PEM public key) and jwksKey (a JWKS) in existingSecret %q" (int $i) $is.existingSecret) }}
{{- end }}
{{- $names = append $names $is.issuer }}
{{- end }}
{{- if and $a.signing.existingSecret (eq $a.mode "required") (not (has $a.signing.issuer $names)) }}
{{- fail (printf "auth.signing.issuer %q is not one of auth.issuers (%s): the services would refuse the tokens it signs" $a.signing.issuer (join ", " $names)) }}
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
