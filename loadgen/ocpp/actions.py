"""Every action name of OCPP 1.6J, 2.0.1 and 2.1, both directions.

Labels and stats entries take an action name only when it is in these sets (anything
else is one bucket): a hostile server cannot grow them without bound. The sets are the
official schemas' action names; tests/unit/test_ocpp_actions.py checks them against the
``ocpp`` package's enums.
"""

from __future__ import annotations

#: OCPP 1.6J, with the security extension (edition 2).
ACTIONS_16: frozenset[str] = frozenset(
    (
        "Authorize BootNotification CancelReservation CertificateSigned ChangeAvailability "
        "ChangeConfiguration ClearCache ClearChargingProfile DataTransfer DeleteCertificate "
        "DiagnosticsStatusNotification ExtendedTriggerMessage FirmwareStatusNotification "
        "GetCompositeSchedule GetConfiguration GetDiagnostics GetInstalledCertificateIds "
        "GetLocalListVersion GetLog Heartbeat InstallCertificate LogStatusNotification "
        "MeterValues RemoteStartTransaction RemoteStopTransaction ReserveNow Reset "
        "SecurityEventNotification SendLocalList SetChargingProfile SignCertificate "
        "SignedFirmwareStatusNotification SignedUpdateFirmware StartTransaction "
        "StatusNotification StopTransaction TriggerMessage UnlockConnector UpdateFirmware "
    ).split()
)

#: OCPP 2.0.1.
ACTIONS_201: frozenset[str] = frozenset(
    (
        "Authorize BootNotification CancelReservation CertificateSigned ChangeAvailability "
        "ClearCache ClearChargingProfile ClearDisplayMessage ClearVariableMonitoring "
        "ClearedChargingLimit CostUpdated CustomerInformation DataTransfer DeleteCertificate "
        "FirmwareStatusNotification Get15118EVCertificate GetBaseReport GetCertificateStatus "
        "GetChargingProfiles GetCompositeSchedule GetDisplayMessages "
        "GetInstalledCertificateIds GetLocalListVersion GetLog GetMonitoringReport GetReport "
        "GetTransactionStatus GetVariables Heartbeat InstallCertificate "
        "LogStatusNotification MeterValues NotifyChargingLimit NotifyCustomerInformation "
        "NotifyDisplayMessages NotifyEVChargingNeeds NotifyEVChargingSchedule NotifyEvent "
        "NotifyMonitoringReport NotifyReport PublishFirmware "
        "PublishFirmwareStatusNotification ReportChargingProfiles RequestStartTransaction "
        "RequestStopTransaction ReservationStatusUpdate ReserveNow Reset "
        "SecurityEventNotification SendLocalList SetChargingProfile SetDisplayMessage "
        "SetMonitoringBase SetMonitoringLevel SetNetworkProfile SetVariableMonitoring "
        "SetVariables SignCertificate StatusNotification TransactionEvent TriggerMessage "
        "UnlockConnector UnpublishFirmware UpdateFirmware "
    ).split()
)

#: OCPP 2.1.
ACTIONS_21: frozenset[str] = frozenset(
    (
        "AFRRSignal AdjustPeriodicEventStream Authorize BatterySwap BootNotification "
        "CancelReservation CertificateSigned ChangeAvailability ChangeTransactionTariff "
        "ClearCache ClearChargingProfile ClearDERControl ClearDisplayMessage ClearTariffs "
        "ClearVariableMonitoring ClearedChargingLimit ClosePeriodicEventStream CostUpdated "
        "CustomerInformation DataTransfer DeleteCertificate FirmwareStatusNotification "
        "Get15118EVCertificate GetBaseReport GetCertificateChainStatus GetCertificateStatus "
        "GetChargingProfiles GetCompositeSchedule GetDERControl GetDisplayMessages "
        "GetInstalledCertificateIds GetLocalListVersion GetLog GetMonitoringReport "
        "GetPeriodicEventStream GetReport GetTariffs GetTransactionStatus GetVariables "
        "Heartbeat InstallCertificate LogStatusNotification MeterValues "
        "NotifyAllowedEnergyTransfer NotifyChargingLimit NotifyCustomerInformation "
        "NotifyDERAlarm NotifyDERStartStop NotifyDisplayMessages NotifyEVChargingNeeds "
        "NotifyEVChargingSchedule NotifyEvent NotifyMonitoringReport NotifyPriorityCharging "
        "NotifyReport NotifySettlement NotifyWebPaymentStarted OpenPeriodicEventStream "
        "PublishFirmware PublishFirmwareStatusNotification PullDynamicScheduleUpdate "
        "ReportChargingProfiles ReportDERControl RequestBatterySwap RequestStartTransaction "
        "RequestStopTransaction ReservationStatusUpdate ReserveNow Reset "
        "SecurityEventNotification SendLocalList SetChargingProfile SetDERControl "
        "SetDefaultTariff SetDisplayMessage SetMonitoringBase SetMonitoringLevel "
        "SetNetworkProfile SetVariableMonitoring SetVariables SignCertificate "
        "StatusNotification TransactionEvent TriggerMessage UnlockConnector "
        "UnpublishFirmware UpdateDynamicSchedule UpdateFirmware UsePriorityCharging "
        "VatNumberValidation "
    ).split()
)

#: Every action of every version loadgen knows.
ALL_ACTIONS: frozenset[str] = ACTIONS_16 | ACTIONS_201 | ACTIONS_21
