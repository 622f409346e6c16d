import Testing
@testable import LifeboatSystem

@Suite struct SystemLibrariesTests {
    @Test func test_corosyncHeaders_whenImported_shouldDefineCSOKAsOne() {
        #expect(SystemLibraries.corosyncOK == 1)
        #expect(SystemLibraries.corosyncErrorName(1) == "CS_OK")
        #expect(SystemLibraries.corosyncErrorName(2) == "CS_ERR_LIBRARY")
    }

    @Test func test_freeIPMITemplate_whenCreated_shouldBeAValidObject() {
        #expect(SystemLibraries.freeIPMITemplatesUsable())
    }
}
