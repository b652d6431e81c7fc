package module

import (
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/sluiceproxy/sluice/abi"
)

// The host API table is built once per process: purego can create only a
// bounded number of callbacks (2000) and never frees them, so callbacks are
// never made per module, per config or per filter. Every callback finds its
// object from the handle argument instead.
var hostAPI struct {
	once sync.Once
	mem  []byte
	api  *abi.HostAPI
}

func initHostAPI() {
	hostAPI.once.Do(func() {
		mem, err := cAlloc(int(unsafe.Sizeof(abi.HostAPI{})))
		if err != nil {
			panic("module: cannot map the host API table: " + err.Error())
		}
		api := (*abi.HostAPI)(unsafe.Pointer(&mem[0]))
		api.Size = uint32(unsafe.Sizeof(abi.HostAPI{}))
		api.ABIVersion = abi.Version

		api.Log = purego.NewCallback(cbLog)
		api.LogEnabled = purego.NewCallback(cbLogEnabled)
		api.Concurrency = purego.NewCallback(cbConcurrency)

		api.ConfigReject = purego.NewCallback(cbConfigReject)
		api.DefineCounter = purego.NewCallback(cbDefineCounter)
		api.DefineGauge = purego.NewCallback(cbDefineGauge)
		api.DefineHistogram = purego.NewCallback(cbDefineHistogram)
		api.CounterAdd = purego.NewCallback(cbCounterAdd)
		api.GaugeSet = purego.NewCallback(cbGaugeSet)
		api.GaugeAdd = purego.NewCallback(cbGaugeAdd)
		api.HistogramRecord = purego.NewCallback(cbHistogramRecord)

		api.HeaderGet = purego.NewCallback(cbHeaderGet)
		api.HeaderValues = purego.NewCallback(cbHeaderValues)
		api.HeadersGet = purego.NewCallback(cbHeadersGet)
		api.HeaderSet = purego.NewCallback(cbHeaderSet)
		api.HeaderAdd = purego.NewCallback(cbHeaderAdd)
		api.HeaderRemove = purego.NewCallback(cbHeaderRemove)

		api.BodyChunks = purego.NewCallback(cbBodyChunks)
		api.BodySize = purego.NewCallback(cbBodySize)
		api.BodyAppend = purego.NewCallback(cbBodyAppend)
		api.BodyDrain = purego.NewCallback(cbBodyDrain)

		api.SendResponse = purego.NewCallback(cbSendResponse)
		api.ContinueDecoding = purego.NewCallback(cbContinueDecoding)
		api.ContinueEncoding = purego.NewCallback(cbContinueEncoding)
		api.ClearRouteCache = purego.NewCallback(cbClearRouteCache)

		api.SchedulerNew = purego.NewCallback(cbSchedulerNew)
		// Native entry points: commit and delete never enter the Go runtime.
		api.SchedulerCommit = schedCommitAddr()
		api.SchedulerDelete = schedDeleteAddr()

		api.GetAttributeString = purego.NewCallback(cbGetAttributeString)
		api.GetAttributeInt = purego.NewCallback(cbGetAttributeInt)
		api.MetadataSetString = purego.NewCallback(cbMetadataSetString)
		api.MetadataSetNumber = purego.NewCallback(cbMetadataSetNumber)
		api.MetadataGetString = purego.NewCallback(cbMetadataGetString)
		api.MetadataGetNumber = purego.NewCallback(cbMetadataGetNumber)
		api.PerRouteConfig = purego.NewCallback(cbPerRouteConfig)

		api.ConfigSchedulerNew = purego.NewCallback(cbConfigSchedulerNew)
		api.LogFilter = purego.NewCallback(cbLogFilter)

		api.TimerNew = purego.NewCallback(cbTimerNew)
		api.TimerEnable = purego.NewCallback(cbTimerEnable)
		api.TimerDisable = purego.NewCallback(cbTimerDisable)
		api.TimerDelete = purego.NewCallback(cbTimerDelete)

		api.DefineMetric = purego.NewCallback(cbDefineMetric)
		api.ReportPanic = purego.NewCallback(cbReportPanic)

		api.InjectData = purego.NewCallback(cbInjectData)

		api.NetworkBufferChunks = purego.NewCallback(cbNetBufferChunks)
		api.NetworkBufferSize = purego.NewCallback(cbNetBufferSize)
		api.NetworkBufferDrain = purego.NewCallback(cbNetBufferDrain)
		api.NetworkBufferAppend = purego.NewCallback(cbNetBufferAppend)
		api.NetworkBufferPrepend = purego.NewCallback(cbNetBufferPrepend)
		api.NetworkContinueReading = purego.NewCallback(cbNetContinueReading)
		api.NetworkInjectReadData = purego.NewCallback(cbNetInjectReadData)
		api.NetworkInjectWriteData = purego.NewCallback(cbNetInjectWriteData)
		api.NetworkWrite = purego.NewCallback(cbNetWrite)
		api.NetworkClose = purego.NewCallback(cbNetClose)
		api.NetworkReadDisable = purego.NewCallback(cbNetReadDisable)
		api.NetworkGetAttributeString = purego.NewCallback(cbNetGetAttributeString)
		api.NetworkGetAttributeInt = purego.NewCallback(cbNetGetAttributeInt)
		api.NetworkMetadataSetString = purego.NewCallback(cbNetMetadataSetString)
		api.NetworkMetadataSetNumber = purego.NewCallback(cbNetMetadataSetNumber)
		api.NetworkMetadataGetString = purego.NewCallback(cbNetMetadataGetString)
		api.NetworkMetadataGetNumber = purego.NewCallback(cbNetMetadataGetNumber)
		api.NetworkSchedulerNew = purego.NewCallback(cbNetSchedulerNew)
		api.NetworkTimerNew = purego.NewCallback(cbNetTimerNew)
		api.NetworkLog = purego.NewCallback(cbNetLog)
		api.ConnectionMetadataGetString = purego.NewCallback(cbConnectionMetadataGetString)
		api.ConnectionMetadataGetNumber = purego.NewCallback(cbConnectionMetadataGetNumber)

		api.HTTPCallout = purego.NewCallback(cbHTTPCallout)
		api.ConfigHTTPCallout = purego.NewCallback(cbConfigHTTPCallout)
		api.HTTPCalloutCancel = purego.NewCallback(cbHTTPCalloutCancel)

		hostAPI.mem, hostAPI.api = mem, api
	})
}

// hostAPIPtr is the table's C address, handed to sluice_on_program_init.
func hostAPIPtr() unsafe.Pointer {
	initHostAPI()
	return unsafe.Pointer(hostAPI.api)
}
