import LifeboatCorosync
import Testing

@testable import LifeboatSystem

@Suite struct SystemLibrariesTests {
    @Test func test_corosyncHeaders_whenImported_shouldDefineCSOKAsOne() {
        #expect(SystemLibraries.corosyncOK == 1)
        #expect(CorosyncError(code: 1, call: "x").name == "CS_OK")
        #expect(CorosyncError(code: 2, call: "cpg_dispatch").description == "cpg_dispatch failed: CS_ERR_LIBRARY")
        #expect(CorosyncError(code: 2, call: "x").isDisconnect)
        #expect(CorosyncError(code: 9, call: "x").isDisconnect)  // CS_ERR_BAD_HANDLE
        #expect(!CorosyncError(code: 6, call: "x").isDisconnect)  // CS_ERR_TRY_AGAIN
    }

    @Test func test_freeIPMITemplate_whenCreated_shouldBeAValidObject() {
        #expect(SystemLibraries.freeIPMITemplatesUsable())
    }
}
