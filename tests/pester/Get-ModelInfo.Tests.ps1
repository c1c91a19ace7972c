BeforeDiscovery {
    # ../shared beside the repository holds the real models; a user's clone may not have it.
    $HasShared = Test-Path (Join-Path $PSScriptRoot '../../../shared/assets/mnist/mnist-8.onnx')
}

BeforeAll {
    $script:ModulePath = $env:COMPRESSION_MODULE ?? (Join-Path $PSScriptRoot '../../out/Compression/Compression.psd1')
    Import-Module $ModulePath -Force
    $script:Mnist = Join-Path $PSScriptRoot '../../../shared/assets/mnist/mnist-8.onnx'
}

Describe 'The module' {
    It 'exports exactly the commands its manifest lists' {
        $manifest = Import-PowerShellDataFile $ModulePath
        (Get-Command -Module Compression).Name | Sort-Object | Should -Be ($manifest.CmdletsToExport | Sort-Object)
    }

    It 'loads the engine in its own load context' {
        Get-ModelInfo -Path $Mnist -ErrorAction SilentlyContinue | Out-Null
        $engine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Compression.Core' }
        [Runtime.Loader.AssemblyLoadContext]::GetLoadContext($engine).Name | Should -Be 'Compression'
    }
}

Describe 'Get-ModelInfo' {
    It 'reports mnist-8 as IR 3, opset 8, 12 nodes, 5,998 parameters, 786,560 MACs' -Skip:(-not $HasShared) {
        $info = Get-ModelInfo $Mnist
        $info.IrVersion | Should -Be 3
        $info.Opsets[0].Version | Should -Be 8
        $info.NodeCount | Should -Be 12
        $info.ParameterCount | Should -Be 5998
        $info.Macs.Macs | Should -Be 786560
        $info.Macs.IsComplete | Should -BeTrue
        $info.PSObject.TypeNames[0] | Should -Be 'Compression.Core.Onnx.Inspection.ModelInfo'
    }

    It 'takes files from Get-ChildItem and wildcards' -Skip:(-not $HasShared) {
        $fromPipeline = Get-ChildItem (Split-Path $Mnist) -Filter *.onnx | Get-ModelInfo
        $fromWildcard = Get-ModelInfo (Join-Path (Split-Path $Mnist) '*.onnx')
        $fromPipeline.Path | Should -Be $fromWildcard.Path
        @($fromPipeline).Count | Should -BeGreaterThan 0
    }

    It 'renders its table and list views and converts to JSON' -Skip:(-not $HasShared) {
        $info = Get-ModelInfo $Mnist
        ($info | Format-Table | Out-String) | Should -Match 'mnist-8\.onnx\s+25\.8 KB'
        ($info | Format-List | Out-String) | Should -Match 'ParameterCount\s+:\s+5,998'
        ($info | ConvertTo-Json -Depth 5 | ConvertFrom-Json).NodeCount | Should -Be 12
    }

    Context 'bad input' {
        BeforeAll {
            $script:Folder = New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "pester-$PID-$(Get-Random)")
            [IO.File]::WriteAllBytes((Join-Path $Folder 'empty.onnx'), [byte[]]@())
            [IO.File]::WriteAllBytes((Join-Path $Folder 'photo.onnx'), [byte[]](0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0))
        }
        AfterAll { Remove-Item $Folder -Recurse -Force }

        It '<Case> gives error <Code>' -TestCases @(
            @{ Case = 'an empty file'; Name = 'empty.onnx'; Code = 'CMP2003'; Category = 'InvalidData' }
            @{ Case = 'a PNG renamed .onnx'; Name = 'photo.onnx'; Code = 'CMP2004'; Category = 'InvalidData' }
            @{ Case = 'a directory'; Name = '.'; Code = 'CMP2002'; Category = 'InvalidArgument' }
            @{ Case = 'a wildcard matching nothing'; Name = 'nothing*.onnx'; Code = 'CMP5001'; Category = 'ObjectNotFound' }
        ) {
            $result = Get-ModelInfo (Join-Path $Folder $Name) -ErrorVariable errors -ErrorAction SilentlyContinue
            $result | Should -BeNullOrEmpty
            $errors.Count | Should -Be 1
            $errors[0].FullyQualifiedErrorId | Should -BeLike "$Code,*"
            $errors[0].CategoryInfo.Category | Should -Be $Category
        }

        It 'keeps going after a bad file in the pipeline' -Skip:(-not $HasShared) {
            $results = (Join-Path $Folder 'empty.onnx'), $Mnist | Get-ModelInfo -ErrorAction SilentlyContinue
            @($results).Count | Should -Be 1
        }

        It 'leaves PowerShell''s own flow alone: Select-Object -First ends the pipeline, -ErrorAction Stop stops it' -Skip:(-not $HasShared) {
            $first = $Mnist, $Mnist | Get-ModelInfo -ErrorVariable errors | Select-Object -First 1
            @($first).Count | Should -Be 1
            $errors.Count | Should -Be 0
            { (Join-Path $Folder 'empty.onnx'), $Mnist | Get-ModelInfo -ErrorAction Stop } | Should -Throw -ErrorId 'CMP2003,*'
        }
    }
}
