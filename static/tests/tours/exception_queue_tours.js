/** @odoo-module **/

import { registry } from "@web/core/registry";

const QUEUE_URL = "/odoo/action-account_ap_sync.action_ap_sync_exception";

/** Open the queue (grouped by type), unfold a type and open the exception of one invoice. */
function openException(typeLabel, invoiceNumber) {
    return [
        {
            content: "The queue is grouped by type",
            trigger: `.o_list_view .o_group_header:contains("${typeLabel}")`,
            run: "click",
        },
        {
            content: `Open the exception of ${invoiceNumber}`,
            trigger: `.o_list_view .o_data_row:contains("${invoiceNumber}") .o_data_cell[name="name"]`,
            run: "click",
        },
        {
            content: "The form explains the problem",
            trigger: ".o_form_view .o_ap_sync_explanation",
        },
    ];
}

/** The resolution ends on the new bill: a draft vendor bill of the right vendor. */
function draftBillOf(vendorName, invoiceNumber) {
    return [
        {
            content: "The draft bill appears",
            trigger: `.o_breadcrumb .active:contains("Draft Bill (${invoiceNumber})")`,
        },
        {
            content: "It is a draft",
            trigger: '.o_form_view .o_statusbar_status button.o_arrow_button_current:contains("Draft")',
        },
        {
            content: `Its vendor is ${vendorName}`,
            trigger: '.o_form_view .o_field_widget[name="partner_id"]',
            run() {
                const input = this.anchor.querySelector("input");
                const shown = input ? input.value : this.anchor.textContent;
                if (!shown.includes(vendorName)) {
                    throw new Error(`The bill's vendor is "${shown}", not "${vendorName}"`);
                }
            },
        },
    ];
}

/** Confirm the resolution wizard, which ends on the new draft bill. */
function confirmAndOpenBillOf(vendorName, invoiceNumber) {
    return [
        {
            content: "Confirm",
            trigger: '.modal-footer button[name="action_confirm"]',
            run: "click",
        },
        ...draftBillOf(vendorName, invoiceNumber),
    ];
}

registry.category("web_tour.tours").add("account_ap_sync_link_vendor", {
    url: QUEUE_URL,
    steps: () => [
        ...openException("Unknown vendor", "TOUR-LV-1"),
        {
            content: "The supplier as the invoice gives it",
            trigger: '.o_ap_sync_explanation:contains("Tour Unknown Supplies BV")',
        },
        {
            content: "Link a vendor",
            trigger: '.o_form_statusbar button:contains("Link vendor")',
            run: "click",
        },
        {
            content: "Choose the vendor",
            trigger: '.modal .o_field_widget[name="partner_id"] input',
            run: "edit Tour Linked Vendor",
        },
        {
            content: "Pick it in the list",
            trigger: '.o-autocomplete--dropdown-item a:contains("Tour Linked Vendor")',
            run: "click",
        },
        {
            content: "Remember the mapping for next time",
            trigger: '.modal .o_field_widget[name="remember"] input',
            run: "click",
        },
        ...confirmAndOpenBillOf("Tour Linked Vendor", "TOUR-LV-1"),
    ],
});

registry.category("web_tour.tours").add("account_ap_sync_accept_variance", {
    url: QUEUE_URL,
    steps: () => [
        ...openException("Price variance", "TOUR-PV-1"),
        {
            content: "Invoice price beside PO price",
            trigger: '.o_ap_sync_numbers tr.table-warning:contains("120"):contains("100"):contains("+20.0%")',
        },
        {
            content: "Accept the variance",
            trigger: '.o_form_statusbar button:contains("Accept variance")',
            run: "click",
        },
        {
            content: "Give the reason",
            trigger: '.modal .o_field_widget[name="reason"] textarea',
            run: "edit Price increase agreed with the vendor on 3 Nov",
        },
        ...confirmAndOpenBillOf("Tour Variance Vendor", "TOUR-PV-1"),
    ],
});

registry.category("web_tour.tours").add("account_ap_sync_overview_drilldown", {
    url: "/odoo/action-account_ap_sync.action_ap_sync_overview",
    steps: () => [
        {
            content: "Open the unknown-vendor figure of the platform",
            trigger:
                '.o_ap_sync_platform_card:contains("Test Platform A") .o_ap_sync_by_type tr:contains("Unknown vendor") a',
            run: "click",
        },
        {
            content: "The list holds exactly the records the figure counted",
            trigger: '.o_list_view .o_data_row:contains("Unknown vendor")',
            run() {
                const rows = document.querySelectorAll(".o_list_view .o_data_row");
                if (rows.length !== 3) {
                    throw new Error(`The figure said 3, the list shows ${rows.length}`);
                }
            },
        },
    ],
});
