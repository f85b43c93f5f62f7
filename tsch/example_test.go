package tsch_test

import (
	"fmt"

	"github.com/nxdeploy/deployer/tsch"
)

// The definition of a one-shot SYSTEM task.
func ExampleTask_XML() {
	doc, err := tsch.Task{
		Name:      "nxdeploy-1234",
		Command:   `C:\Windows\nxdeploy\1234\nxsvc.exe`,
		Arguments: `C:\Windows\nxdeploy\1234`,
	}.XML()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(doc)
	// Output:
	// <?xml version="1.0" encoding="UTF-16"?>
	// <Task xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task" version="1.2">
	//   <RegistrationInfo>
	//     <Author>nxdeploy</Author>
	//     <URI>\nxdeploy-1234</URI>
	//   </RegistrationInfo>
	//   <Principals>
	//     <Principal id="LocalSystem">
	//       <UserId>S-1-5-18</UserId>
	//       <RunLevel>HighestAvailable</RunLevel>
	//     </Principal>
	//   </Principals>
	//   <Settings>
	//     <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
	//     <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
	//     <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
	//     <AllowHardTerminate>true</AllowHardTerminate>
	//     <StartWhenAvailable>false</StartWhenAvailable>
	//     <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
	//     <IdleSettings>
	//       <StopOnIdleEnd>false</StopOnIdleEnd>
	//       <RestartOnIdle>false</RestartOnIdle>
	//     </IdleSettings>
	//     <AllowStartOnDemand>true</AllowStartOnDemand>
	//     <Enabled>true</Enabled>
	//     <Hidden>true</Hidden>
	//     <RunOnlyIfIdle>false</RunOnlyIfIdle>
	//     <WakeToRun>false</WakeToRun>
	//     <ExecutionTimeLimit>PT4H</ExecutionTimeLimit>
	//     <Priority>7</Priority>
	//   </Settings>
	//   <Actions Context="LocalSystem">
	//     <Exec>
	//       <Command>C:\Windows\nxdeploy\1234\nxsvc.exe</Command>
	//       <Arguments>C:\Windows\nxdeploy\1234</Arguments>
	//     </Exec>
	//   </Actions>
	// </Task>
}
