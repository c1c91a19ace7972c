<#
.SYNOPSIS
    A release step: compresses every model of a folder with one recipe, writes a Markdown summary, and exits
    non-zero when a gate fails.
.DESCRIPTION
    The summary table (model, size before and after, ratio, main metric before and after, gates) is written to
    -SummaryPath, and appended to $env:GITHUB_STEP_SUMMARY when that is set, so it shows as the CI job's summary.
.EXAMPLE
    ./examples/scripts/release-pipeline.ps1 -ModelFolder ./models -Recipe ./recipes/int8.yaml -OutputFolder ./out/release
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModelFolder,
    [Parameter(Mandatory)] [string] $Recipe,
    [Parameter(Mandatory)] [string] $OutputFolder,
    [string] $SummaryPath = (Join-Path $OutputFolder 'summary.md'),
    [string] $ModulePath = (Join-Path $PSScriptRoot '../../out/Compression/Compression.psd1')
)

$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
New-Item -ItemType Directory -Path $OutputFolder -Force | Out-Null

function Format-Size([long] $bytes) {
    if ($bytes -ge 1MB) { '{0:0.0} MB' -f ($bytes / 1MB) } elseif ($bytes -ge 1KB) { '{0:0.0} KB' -f ($bytes / 1KB) } else { "$bytes B" }
}

function Format-Metric($task) {
    if ($null -eq $task) { return '' }
    if ($null -ne $task.Top1) { return '{0:P2}' -f $task.Top1 }
    if ($null -ne $task.Spearman) { return '{0:0.00}' -f (100 * $task.Spearman) }
    ''
}

$rows = [System.Collections.Generic.List[string]]::new()
$failed = 0
foreach ($model in Get-ChildItem $ModelFolder -Filter *.onnx) {
    $output = Join-Path $OutputFolder $model.Name
    $gateErrors = $null
    $result = Invoke-ModelCompression -LiteralPath $model.FullName -Recipe $Recipe -OutputPath $output -Force -ErrorVariable gateErrors -ErrorAction SilentlyContinue
    if (-not $result) {
        $failed++
        $rows.Add("| $($model.Name) | $(Format-Size $model.Length) | | | | | error: $(($gateErrors | Select-Object -First 1).Exception.Message) |")
        continue
    }

    if (-not $result.Passed) { $failed++ }
    $evaluation = $result.Evaluation
    $gates = if (-not $result.Gates) { 'none' } elseif ($result.Passed) { 'passed' } else { 'FAILED: ' + (($result.Gates | Where-Object { -not $_.Passed } | ForEach-Object Gate) -join ', ') }
    $rows.Add(('| {0} | {1} | {2} | {3:P1} | {4} | {5} | {6} |' -f $model.Name, (Format-Size $result.InputSizeBytes), (Format-Size $result.OutputSizeBytes),
            $result.SizeRatio, (Format-Metric $evaluation.Reference.Task), (Format-Metric $evaluation.Candidate.Task), $gates))
}

$summary = @(
    "## Model compression ($(Split-Path -Leaf $Recipe))"
    ''
    '| model | before | after | ratio | metric before | metric after | gates |'
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |'
    $rows
    ''
    $(if ($failed) { "**$failed model(s) failed.**" } else { 'All models passed their gates.' })
) -join "`n"
Set-Content $SummaryPath $summary
if ($env:GITHUB_STEP_SUMMARY) { Add-Content $env:GITHUB_STEP_SUMMARY $summary }
Write-Output $summary
exit $(if ($failed) { 1 } else { 0 })
