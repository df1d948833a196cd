{{/*
Every object of one service block, from (dict "root" $ "name" "<service>"): the Deployment, its
Service (ports grpc and ops), and when the block asks for them a HorizontalPodAutoscaler, a
PodDisruptionBudget or a KEDA ScaledObject. templates/services.yaml calls it once per enabled
service, so every service shares one definition.
*/}}
{{- define "switchyard.component" -}}
{{- $root := .root }}
{{- $name := .name }}
{{- $v := $root.Values }}
{{- $svc := index $v $name }}
{{- $fullName := include "switchyard.componentName" . }}
{{- $labels := include "switchyard.componentLabels" . }}
{{- $selector := include "switchyard.componentSelectorLabels" . }}
{{- $autoscaled := or $svc.autoscaling.enabled $svc.autoscaling.keda.enabled }}
{{- $tlsSecret := include "switchyard.tlsSecret" $root }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullName }}
  labels:
    {{- $labels | nindent 4 }}
spec:
  {{- if not $autoscaled }}
  replicas: {{ $svc.replicaCount }}
  {{- end }}
  selector:
    matchLabels:
      {{- $selector | nindent 6 }}
  template:
    metadata:
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- with mergeOverwrite (deepCopy ($v.podAnnotations | default dict)) ($svc.podAnnotations | default dict) }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      labels:
        {{- $selector | nindent 8 }}
        {{- with mergeOverwrite (deepCopy ($v.podLabels | default dict)) ($svc.podLabels | default dict) }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "switchyard.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- /* Service links would add SWITCHYARD_*_SERVICE_HOST variables, read as unknown config keys. */}}
      enableServiceLinks: false
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . | quote }}
      {{- end }}
      {{- with $v.podSecurityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      terminationGracePeriodSeconds: {{ $svc.terminationGracePeriodSeconds }}
      containers:
        - name: {{ $name }}
          image: {{ include "switchyard.image" $root | quote }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          {{- with $v.command }}
          command:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          args:
            {{- if $svc.args }}
            {{- toYaml $svc.args | nindent 12 }}
            {{- else }}
            - {{ $name }}
            - --config
            - {{ include "switchyard.configFile" $root }}
            {{- end }}
            {{- range $svc.extraArgs }}
            - {{ . | quote }}
            {{- end }}
          ports:
            - name: grpc
              containerPort: {{ $v.containerPorts.grpc }}
              protocol: TCP
            - name: ops
              containerPort: {{ $v.containerPorts.ops }}
              protocol: TCP
          env:
            - name: SWITCHYARD_INSTANCE_ID
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            {{- include "switchyard.credentialsEnv" $root | nindent 12 }}
            {{- with $v.env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $svc.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- with $svc.startupProbe }}
          startupProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $svc.livenessProbe }}
          livenessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $svc.readinessProbe }}
          readinessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $svc.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $v.securityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $svc.lifecycleHooks }}
          lifecycle:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          volumeMounts:
            - name: config
              mountPath: {{ include "switchyard.configDir" $root }}
              readOnly: true
            - name: tmp
              mountPath: /tmp
            {{- include "switchyard.secretVolumeMounts" $root | nindent 12 }}
            {{- include "switchyard.authVolumeMounts" $root | nindent 12 }}
            {{- if $tlsSecret }}
            - name: tls
              mountPath: {{ include "switchyard.tlsDir" $root }}
              readOnly: true
            {{- end }}
      volumes:
        - name: config
          configMap:
            name: {{ include "switchyard.fullname" $root }}
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- include "switchyard.secretVolumes" $root | nindent 8 }}
        {{- include "switchyard.authVolumes" $root | nindent 8 }}
        {{- if $tlsSecret }}
        {{- /* The keys the config names: a missing one keeps the pod from starting, named in its events. */}}
        - name: tls
          secret:
            secretName: {{ $tlsSecret | quote }}
            items:
              - key: tls.crt
                path: tls.crt
              - key: tls.key
                path: tls.key
              {{- if ne $v.tls.clientAuth "none" }}
              - key: ca.crt
                path: ca.crt
              {{- end }}
        {{- end }}
      {{- with $svc.nodeSelector | default $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.tolerations | default $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.affinity | default $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.topologySpreadConstraints | default $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- range . }}
        {{- /* Each constraint counts this service's pods unless it names its own selector. */}}
        - {{- toYaml (merge (deepCopy .) (dict "labelSelector" (dict "matchLabels" ($selector | fromYaml)))) | nindent 10 }}
        {{- end }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullName }}
  labels:
    {{- $labels | nindent 4 }}
  {{- with $svc.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $svc.service.type }}
  selector:
    {{- $selector | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $svc.service.grpcPort }}
      targetPort: grpc
      protocol: TCP
    - name: ops
      port: {{ $svc.service.opsPort }}
      targetPort: ops
      protocol: TCP
{{- if $svc.autoscaling.enabled }}
{{- $metrics := list }}
{{- with $svc.autoscaling.targetCPUUtilizationPercentage }}
{{- $metrics = append $metrics (dict "type" "Resource" "resource" (dict "name" "cpu" "target" (dict "type" "Utilization" "averageUtilization" (int .)))) }}
{{- end }}
{{- with $svc.autoscaling.targetMemoryUtilizationPercentage }}
{{- $metrics = append $metrics (dict "type" "Resource" "resource" (dict "name" "memory" "target" (dict "type" "Utilization" "averageUtilization" (int .)))) }}
{{- end }}
{{- $metrics = concat $metrics ($svc.autoscaling.metrics | default list) }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $fullName }}
  labels:
    {{- $labels | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $fullName }}
  minReplicas: {{ $svc.autoscaling.minReplicas }}
  maxReplicas: {{ $svc.autoscaling.maxReplicas }}
  {{- with $metrics }}
  metrics:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $svc.autoscaling.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- with $svc.podDisruptionBudget }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $fullName }}
  labels:
    {{- $labels | nindent 4 }}
spec:
  {{- toYaml (omit . "selector") | nindent 2 }}
  selector:
    matchLabels:
      {{- $selector | nindent 6 }}
{{- end }}
{{- $keda := $svc.autoscaling.keda }}
{{- if $keda.enabled }}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ $fullName }}
  labels:
    {{- $labels | nindent 4 }}
spec:
  scaleTargetRef:
    name: {{ $fullName }}
  minReplicaCount: {{ $svc.autoscaling.minReplicas }}
  maxReplicaCount: {{ $svc.autoscaling.maxReplicas }}
  pollingInterval: {{ $keda.pollingInterval }}
  cooldownPeriod: {{ $keda.cooldownPeriod }}
  {{- with $svc.autoscaling.behavior }}
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        {{- toYaml . | nindent 8 }}
  {{- end }}
  triggers:
    - type: kafka
      metadata:
        bootstrapServers: {{ $keda.bootstrapServers | default $v.kafka.bootstrapServers | quote }}
        consumerGroup: {{ $keda.consumerGroup | quote }}
        {{- with $keda.topic }}
        topic: {{ printf "%s%s" $v.kafka.topicPrefix . | quote }}
        {{- end }}
        lagThreshold: {{ $keda.lagThreshold | toString | quote }}
        {{- range $key, $value := $keda.extraMetadata }}
        {{ $key }}: {{ $value | toString | quote }}
        {{- end }}
      {{- with $keda.authenticationRef }}
      authenticationRef:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
{{- end }}
