BeforeDiscovery {
    $modulePath = $env:COMPRESSION_MODULE ?? (Join-Path $PSScriptRoot '../../out/Compression/Compression.psd1')
    $Commands = (Import-PowerShellDataFile $modulePath).CmdletsToExport
}

BeforeAll {
    Import-Module ($env:COMPRESSION_MODULE ?? (Join-Path $PSScriptRoot '../../out/Compression/Compression.psd1')) -Force
    $script:Common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
}

Describe 'Help for <_>' -ForEach $Commands {
    BeforeAll {
        $script:Help = Get-Help $_ -Full
        $script:Command = Get-Command $_
    }

    It 'has a synopsis and a description of its own' {
        $Help.Synopsis | Should -Not -BeNullOrEmpty
        $Help.Synopsis | Should -Not -Match '^\s*\S+ \[' # not the syntax PowerShell makes up when help is missing
        ($Help.Description.Text -join ' ') | Should -Not -BeNullOrEmpty
    }

    It 'has at least two examples, each with code' {
        @($Help.Examples.Example).Count | Should -BeGreaterOrEqual 2
        $Help.Examples.Example | ForEach-Object { $_.Code | Should -Not -BeNullOrEmpty }
    }

    It 'describes every parameter' {
        foreach ($parameter in $Command.Parameters.Keys | Where-Object { $_ -notin $Common }) {
            $described = $Help.Parameters.Parameter | Where-Object Name -eq $parameter
            ($described.Description.Text -join ' ') | Should -Not -BeNullOrEmpty -Because "-$parameter needs help"
        }
    }
}

Describe 'About topics' {
    It '<_> is present' -ForEach @('about_Compression', 'about_Compression_Recipes') {
        (Get-Help $_ | Out-String) | Should -Match 'Compression'
    }
}
